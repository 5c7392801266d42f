package gardener

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ShootGVR is Gardener's Shoot resource.
var ShootGVR = schema.GroupVersionResource{Group: "core.gardener.cloud", Version: "v1beta1", Resource: "shoots"}

// What the backend writes on a Shoot so that it (and whoever looks at the garden cluster) can tell whose
// it is.
const (
	AnnotationRuntimeID   = "mgmtplane.io/runtime-id"
	AnnotationOperationID = "mgmtplane.io/operation-id"
	LabelTenant           = "mgmtplane.io/tenant"
	LabelManagedBy        = "app.kubernetes.io/managed-by"
	managedBy             = "mgmtplane-provisioner"
	// Gardener refuses to delete a Shoot without this annotation: a guard against deleting one by mistake.
	AnnotationConfirmDeletion = "confirmation.gardener.cloud/deletion"
	annotationEUAccess        = "support.gardener.cloud/eu-access-for-cluster-nodes"
	annotationLicenceType     = "mgmtplane.io/licence-type"
)

// gardenerConfig is the backend's part of the cluster configuration, with the GraphQL input's field names
// (the domain keeps the input's JSON).
type gardenerConfig struct {
	Name                                string          `json:"name"`
	KubernetesVersion                   string          `json:"kubernetesVersion"`
	Provider                            string          `json:"provider"`
	TargetSecret                        string          `json:"targetSecret"`
	Region                              string          `json:"region"`
	MachineType                         string          `json:"machineType"`
	MachineImage                        string          `json:"machineImage"`
	MachineImageVersion                 string          `json:"machineImageVersion"`
	DiskType                            string          `json:"diskType"`
	VolumeSizeGB                        *int            `json:"volumeSizeGB"`
	WorkerCidr                          string          `json:"workerCidr"`
	PodsCidr                            string          `json:"podsCidr"`
	ServicesCidr                        string          `json:"servicesCidr"`
	AutoScalerMin                       int             `json:"autoScalerMin"`
	AutoScalerMax                       int             `json:"autoScalerMax"`
	MaxSurge                            int             `json:"maxSurge"`
	MaxUnavailable                      int             `json:"maxUnavailable"`
	Purpose                             string          `json:"purpose"`
	LicenceType                         string          `json:"licenceType"`
	EnableKubernetesVersionAutoUpdate   *bool           `json:"enableKubernetesVersionAutoUpdate"`
	EnableMachineImageVersionAutoUpdate *bool           `json:"enableMachineImageVersionAutoUpdate"`
	ProviderSpecificConfig              *providerConfig `json:"providerSpecificConfig"`
	DNSConfig                           *struct {
		Domain    string `json:"domain"`
		Providers []*struct {
			DomainsInclude []string `json:"domainsInclude"`
			Primary        bool     `json:"primary"`
			SecretName     string   `json:"secretName"`
			Type           string   `json:"type"`
		} `json:"providers"`
	} `json:"dnsConfig"`
	Seed       string `json:"seed"`
	OIDCConfig *struct {
		ClientID       string   `json:"clientID"`
		GroupsClaim    string   `json:"groupsClaim"`
		IssuerURL      string   `json:"issuerURL"`
		SigningAlgs    []string `json:"signingAlgs"`
		UsernameClaim  string   `json:"usernameClaim"`
		UsernamePrefix string   `json:"usernamePrefix"`
	} `json:"oidcConfig"`
	ExposureClassName             string `json:"exposureClassName"`
	ShootNetworkingFilterDisabled *bool  `json:"shootNetworkingFilterDisabled"`
	ControlPlaneFailureTolerance  string `json:"controlPlaneFailureTolerance"`
	EUAccess                      bool   `json:"euAccess"`
}

type providerConfig struct {
	GCP *struct {
		Zones []string `json:"zones"`
	} `json:"gcpConfig"`
	Azure *struct {
		VnetCidr   string   `json:"vnetCidr"`
		Zones      []string `json:"zones"`
		AzureZones []*struct {
			Name int    `json:"name"`
			Cidr string `json:"cidr"`
		} `json:"azureZones"`
		EnableNatGateway *bool `json:"enableNatGateway"`
	} `json:"azureConfig"`
	AWS *struct {
		VpcCidr  string `json:"vpcCidr"`
		AWSZones []*struct {
			Name         string `json:"name"`
			PublicCidr   string `json:"publicCidr"`
			InternalCidr string `json:"internalCidr"`
			WorkerCidr   string `json:"workerCidr"`
		} `json:"awsZones"`
	} `json:"awsConfig"`
	OpenStack *struct {
		Zones                []string `json:"zones"`
		FloatingPoolName     string   `json:"floatingPoolName"`
		CloudProfileName     string   `json:"cloudProfileName"`
		LoadBalancerProvider string   `json:"loadBalancerProvider"`
	} `json:"openStackConfig"`
}

func decode(raw []byte) (gardenerConfig, error) {
	var c struct {
		GardenerConfig *gardenerConfig `json:"gardenerConfig"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return gardenerConfig{}, err
	}
	if c.GardenerConfig == nil {
		return gardenerConfig{}, errors.New("gardenerConfig is missing")
	}
	return *c.GardenerConfig, nil
}

// Gardener allows 21 characters for a project's name and a Shoot's name together; the project's is not
// known here, so the Shoot's alone must fit, as a DNS label.
var shootName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,19}[a-z0-9])?$`)

func (c gardenerConfig) validate() error {
	var errs []error
	if !shootName.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("gardenerConfig.name %q: 1-21 lowercase letters, digits and '-', starting with a letter", c.Name))
	}
	for field, v := range map[string]string{"kubernetesVersion": c.KubernetesVersion, "targetSecret": c.TargetSecret,
		"region": c.Region, "machineType": c.MachineType, "workerCidr": c.WorkerCidr} {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("gardenerConfig.%s is empty", field))
		}
	}
	if _, ok := cloudProfiles[strings.ToLower(c.Provider)]; !ok {
		errs = append(errs, fmt.Errorf("gardenerConfig.provider %q: one of gcp, azure, aws, openstack", c.Provider))
	}
	if c.AutoScalerMin < 0 || c.AutoScalerMax < c.AutoScalerMin {
		errs = append(errs, fmt.Errorf("gardenerConfig: autoScalerMin %d and autoScalerMax %d: 0 <= min <= max", c.AutoScalerMin, c.AutoScalerMax))
	}
	switch c.ControlPlaneFailureTolerance {
	case "", "node", "zone":
	default:
		errs = append(errs, fmt.Errorf("gardenerConfig.controlPlaneFailureTolerance %q: node or zone, or left out", c.ControlPlaneFailureTolerance))
	}
	return errors.Join(errs...)
}

// cloudProfiles are the provider types Gardener knows by our provider names, and the cloud profile a
// Shoot on them uses unless the input names one (OpenStack's cloudProfileName).
var cloudProfiles = map[string]struct{ providerType, profile string }{
	"gcp":       {"gcp", "gcp"},
	"azure":     {"azure", "az"},
	"aws":       {"aws", "aws"},
	"openstack": {"openstack", "converged-cloud"},
}

// shootMeta names the runtime and the operation a Shoot was last changed by.
type shootMeta struct {
	Namespace, RuntimeID, OperationID, Tenant string
}

// toShoot is the Shoot that gardenerConfig asks for, as the backend server-side applies it: only the
// fields the backend owns, so that Gardener's defaults and other managers' fields stay theirs.
func toShoot(c gardenerConfig, m shootMeta) *unstructured.Unstructured {
	p := cloudProfiles[strings.ToLower(c.Provider)]
	worker := map[string]any{
		"name":           "cpu-worker-0",
		"machine":        map[string]any{"type": c.MachineType},
		"minimum":        int64(c.AutoScalerMin),
		"maximum":        int64(c.AutoScalerMax),
		"maxSurge":       int64(c.MaxSurge),
		"maxUnavailable": int64(c.MaxUnavailable),
	}
	if c.MachineImage != "" {
		img := map[string]any{"name": c.MachineImage}
		if c.MachineImageVersion != "" {
			img["version"] = c.MachineImageVersion
		}
		worker["machine"].(map[string]any)["image"] = img
	}
	if c.VolumeSizeGB != nil || c.DiskType != "" {
		vol := map[string]any{}
		if c.VolumeSizeGB != nil {
			vol["size"] = fmt.Sprintf("%dGi", *c.VolumeSizeGB)
		}
		if c.DiskType != "" {
			vol["type"] = c.DiskType
		}
		worker["volume"] = vol
	}
	provider := map[string]any{"type": p.providerType}
	profile := p.profile
	if zones, infra := providerInfra(c); infra != nil {
		provider["infrastructureConfig"] = infra
		if len(zones) > 0 {
			worker["zones"] = toAny(zones)
		}
	}
	if o := c.providerOpenStack(); o != nil && o.CloudProfileName != "" {
		profile = o.CloudProfileName
	}
	provider["workers"] = []any{worker}

	networking := map[string]any{"type": "calico", "nodes": c.WorkerCidr}
	if c.PodsCidr != "" {
		networking["pods"] = c.PodsCidr
	}
	if c.ServicesCidr != "" {
		networking["services"] = c.ServicesCidr
	}
	kube := map[string]any{"version": c.KubernetesVersion}
	if o := c.OIDCConfig; o != nil {
		kube["kubeAPIServer"] = map[string]any{"oidcConfig": map[string]any{
			"clientID": o.ClientID, "groupsClaim": o.GroupsClaim, "issuerURL": o.IssuerURL,
			"signingAlgs": toAny(o.SigningAlgs), "usernameClaim": o.UsernameClaim, "usernamePrefix": o.UsernamePrefix,
		}}
	}
	spec := map[string]any{
		"cloudProfileName":  profile,
		"region":            c.Region,
		"secretBindingName": c.TargetSecret,
		"kubernetes":        kube,
		"networking":        networking,
		"provider":          provider,
		"maintenance": map[string]any{"autoUpdate": map[string]any{
			"kubernetesVersion":   boolOr(c.EnableKubernetesVersionAutoUpdate, false),
			"machineImageVersion": boolOr(c.EnableMachineImageVersionAutoUpdate, false),
		}},
		// Upstream's default: the networking filter is off unless asked for.
		"extensions": []any{map[string]any{"type": "shoot-networking-filter", "disabled": boolOr(c.ShootNetworkingFilterDisabled, true)}},
	}
	if c.Purpose != "" {
		spec["purpose"] = c.Purpose
	}
	if c.Seed != "" {
		spec["seedName"] = c.Seed
	}
	if c.ExposureClassName != "" {
		spec["exposureClassName"] = c.ExposureClassName
	}
	if c.ControlPlaneFailureTolerance != "" {
		spec["controlPlane"] = map[string]any{"highAvailability": map[string]any{
			"failureTolerance": map[string]any{"type": c.ControlPlaneFailureTolerance}}}
	}
	if d := c.DNSConfig; d != nil && d.Domain != "" {
		dns := map[string]any{"domain": d.Domain}
		var providers []any
		for _, p := range d.Providers {
			if p == nil {
				continue
			}
			providers = append(providers, map[string]any{"domains": map[string]any{"include": toAny(p.DomainsInclude)},
				"primary": p.Primary, "secretName": p.SecretName, "type": p.Type})
		}
		if len(providers) > 0 {
			dns["providers"] = providers
		}
		spec["dns"] = dns
	}

	annotations := map[string]any{AnnotationRuntimeID: m.RuntimeID, AnnotationOperationID: m.OperationID}
	if c.EUAccess {
		annotations[annotationEUAccess] = "true"
	}
	if c.LicenceType != "" {
		annotations[annotationLicenceType] = c.LicenceType
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "core.gardener.cloud/v1beta1",
		"kind":       "Shoot",
		"metadata": map[string]any{
			"name":        c.Name,
			"namespace":   m.Namespace,
			"annotations": annotations,
			"labels":      map[string]any{LabelTenant: labelValue(m.Tenant), LabelManagedBy: managedBy},
		},
		"spec": spec,
	}}
}

func (c gardenerConfig) providerOpenStack() *struct {
	Zones                []string `json:"zones"`
	FloatingPoolName     string   `json:"floatingPoolName"`
	CloudProfileName     string   `json:"cloudProfileName"`
	LoadBalancerProvider string   `json:"loadBalancerProvider"`
} {
	if c.ProviderSpecificConfig == nil {
		return nil
	}
	return c.ProviderSpecificConfig.OpenStack
}

// providerInfra returns the workers' zones and the provider extension's InfrastructureConfig for the
// provider settings the input gave, in the shape of Gardener's provider extensions.
func providerInfra(c gardenerConfig) ([]string, map[string]any) {
	pc := c.ProviderSpecificConfig
	if pc == nil {
		return nil, nil
	}
	// The settings of the provider asked for: upstream's documents carry other providers' too.
	provider := strings.ToLower(c.Provider)
	switch {
	case pc.GCP != nil && provider == "gcp":
		return pc.GCP.Zones, map[string]any{"apiVersion": "gcp.provider.extensions.gardener.cloud/v1alpha1",
			"kind": "InfrastructureConfig", "networks": map[string]any{"workers": c.WorkerCidr}}
	case pc.Azure != nil && provider == "azure":
		a := pc.Azure
		zones := a.Zones
		var azureZones []any
		for _, z := range a.AzureZones {
			if z != nil {
				zones = append(zones, fmt.Sprint(z.Name))
				azureZones = append(azureZones, map[string]any{"name": int64(z.Name), "cidr": z.Cidr})
			}
		}
		networks := map[string]any{"vnet": map[string]any{"cidr": a.VnetCidr}, "workers": c.WorkerCidr}
		if len(azureZones) > 0 {
			networks["zones"] = azureZones
		}
		return zones, map[string]any{"apiVersion": "azure.provider.extensions.gardener.cloud/v1alpha1",
			"kind": "InfrastructureConfig", "zoned": len(zones) > 0, "networks": networks}
	case pc.AWS != nil && provider == "aws":
		var zones []string
		var awsZones []any
		for _, z := range pc.AWS.AWSZones {
			if z != nil {
				zones = append(zones, z.Name)
				awsZones = append(awsZones, map[string]any{"name": z.Name, "public": z.PublicCidr, "internal": z.InternalCidr, "workers": z.WorkerCidr})
			}
		}
		return zones, map[string]any{"apiVersion": "aws.provider.extensions.gardener.cloud/v1alpha1",
			"kind": "InfrastructureConfig", "networks": map[string]any{"vpc": map[string]any{"cidr": pc.AWS.VpcCidr}, "zones": awsZones}}
	case pc.OpenStack != nil && provider == "openstack":
		o := pc.OpenStack
		return o.Zones, map[string]any{"apiVersion": "openstack.provider.extensions.gardener.cloud/v1alpha1",
			"kind": "InfrastructureConfig", "floatingPoolName": o.FloatingPoolName, "networks": map[string]any{"workers": c.WorkerCidr}}
	}
	return nil, nil
}

// labelValue is the tenant as a label value: itself when Kubernetes allows it, else a digest of it (the
// annotation-free label still lets one select a tenant's Shoots).
func labelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + hex.EncodeToString(sum[:])[:40]
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func toAny(s []string) []any {
	out := make([]any, 0, len(s))
	for _, v := range s {
		out = append(out, v)
	}
	return out
}
