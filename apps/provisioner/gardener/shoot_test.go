package gardener

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Upstream's provision document gives both Azure and GCP settings; the Shoot takes the provider's own.
func TestShootTakesTheSettingsOfItsProvider(t *testing.T) {
	c, err := decode([]byte(`{"gardenerConfig": {"name": "az-1", "provider": "Azure", "kubernetesVersion": "1.31",
		"targetSecret": "az-secret", "region": "westeurope", "machineType": "Standard_D4_v3", "workerCidr": "10.250.0.0/19",
		"autoScalerMin": 2, "autoScalerMax": 4, "maxSurge": 4, "maxUnavailable": 1,
		"providerSpecificConfig": {"azureConfig": {"vnetCidr": "10.250.0.0/19"}, "gcpConfig": {"zones": ["europe-west3-b"]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	s := toShoot(c, shootMeta{Namespace: "garden-p", RuntimeID: "rt", OperationID: "op", Tenant: "a tenant with spaces"})
	get := func(path ...string) any {
		v, _, _ := unstructured.NestedFieldNoCopy(s.Object, path...)
		return v
	}
	if get("spec", "provider", "type") != "azure" || get("spec", "cloudProfileName") != "az" ||
		get("spec", "provider", "infrastructureConfig", "kind") != "InfrastructureConfig" ||
		get("spec", "provider", "infrastructureConfig", "networks", "vnet", "cidr") != "10.250.0.0/19" {
		t.Fatalf("azure shoot: %v", s.Object["spec"])
	}
	w := get("spec", "provider", "workers").([]any)[0].(map[string]any)
	if _, ok := w["zones"]; ok {
		t.Fatalf("GCP's zones on an Azure worker: %v", w)
	}
	// A tenant that is no label value is labelled by its digest.
	if l := s.GetLabels()[LabelTenant]; len(l) != 47 || l[:7] != "sha256-" {
		t.Fatalf("tenant label %q", l)
	}
}
