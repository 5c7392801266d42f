package configuration

import (
	"slices"
	"strings"
)

// BindingType is a Dapr binding component type the Governor accepts, with the metadata a component of the
// type cannot start without. A binding is refused when one of them is missing from both its metadata and
// its secret metadata, so a mistake shows when the configuration is written rather than as a failing
// sidecar in some runtime later.
type BindingType struct {
	Type     string
	Version  string
	Required []string
	Input    bool
	Output   bool
}

// bindingTypes lists the accepted types. Required items are those the component's Init rejects when
// absent, read from components-contrib v1.16.5 (each component's metadata.yaml and metadata parsing) and
// rechecked against v1.18.0, which daprd 1.18.1 uses: nothing Init needs was added for these types.
// Types not listed are refused: add them here with what they require.
//
// This table is also what the project's lean daprd registers (dapr/tools/daprd), so a runtime's sidecar can
// run every binding accepted here: scripts/install.sh generates the registrations from it at build time
// (dapr/daprdgen), and rebuilds daprd when it changes.
var bindingTypes = []BindingType{
	{Type: "bindings.aws.s3", Version: "v1", Required: []string{"bucket"}, Output: true},
	{Type: "bindings.aws.sns", Version: "v1", Required: []string{"topicArn"}, Output: true},
	{Type: "bindings.aws.sqs", Version: "v1", Required: []string{"queueName"}, Input: true, Output: true},
	{Type: "bindings.azure.blobstorage", Version: "v1", Required: []string{"containerName"}, Output: true},
	{Type: "bindings.azure.servicebus.queues", Version: "v1", Required: []string{"queueName"}, Input: true, Output: true},
	{Type: "bindings.azure.storagequeues", Version: "v1", Required: []string{"accountName", "queueName"}, Input: true, Output: true},
	{Type: "bindings.cron", Version: "v1", Required: []string{"schedule"}, Input: true},
	{Type: "bindings.gcp.bucket", Version: "v1", Required: []string{"bucket"}, Output: true},
	{Type: "bindings.gcp.pubsub", Version: "v1", Required: []string{"topic"}, Input: true, Output: true},
	{Type: "bindings.graphql", Version: "v1", Required: []string{"endpoint"}, Output: true},
	{Type: "bindings.http", Version: "v1", Required: []string{"url"}, Output: true},
	{Type: "bindings.kafka", Version: "v1", Required: []string{"authType", "brokers"}, Input: true, Output: true},
	{Type: "bindings.kubernetes", Version: "v1", Input: true},
	{Type: "bindings.localstorage", Version: "v1", Required: []string{"rootPath"}, Output: true},
	{Type: "bindings.mqtt3", Version: "v1", Required: []string{"consumerID", "topic", "url"}, Input: true, Output: true},
	{Type: "bindings.mysql", Version: "v1", Required: []string{"url"}, Output: true},
	{Type: "bindings.postgresql", Version: "v1", Required: []string{"connectionString"}, Output: true},
	{Type: "bindings.rabbitmq", Version: "v1", Required: []string{"host", "queueName"}, Input: true, Output: true},
	{Type: "bindings.redis", Version: "v1", Required: []string{"redisHost"}, Output: true},
	{Type: "bindings.sftp", Version: "v1", Required: []string{"address", "rootPath"}, Output: true},
	{Type: "bindings.smtp", Version: "v1", Required: []string{"host", "port"}, Output: true},
	{Type: "bindings.twilio.sendgrid", Version: "v1", Required: []string{"apiKey"}, Output: true},
	{Type: "bindings.twilio.sms", Version: "v1", Required: []string{"accountSid", "authToken", "fromNumber"}, Output: true},
}

// BindingTypes returns the accepted binding types, sorted by type.
func BindingTypes() []BindingType {
	out := make([]BindingType, len(bindingTypes))
	for i, t := range bindingTypes {
		t.Required = slices.Clone(t.Required)
		out[i] = t
	}
	return out
}

func lookupType(name string) (BindingType, bool) {
	i := slices.IndexFunc(bindingTypes, func(t BindingType) bool { return t.Type == name })
	if i < 0 {
		return BindingType{}, false
	}
	return bindingTypes[i], true
}

func typeNames() string {
	names := make([]string, len(bindingTypes))
	for i, t := range bindingTypes {
		names[i] = t.Type
	}
	return strings.Join(names, ", ")
}
