package identity

// Kinds of caller (Identity.ConsumerType).
const (
	ConsumerUser              = "USER"
	ConsumerApplication       = "APPLICATION"
	ConsumerRuntime           = "RUNTIME"
	ConsumerIntegrationSystem = "INTEGRATION_SYSTEM"
)
