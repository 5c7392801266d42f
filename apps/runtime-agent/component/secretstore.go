package component

// LocalFileSecretStore returns a secretstores.local.file component reading secretsFile. multiValued makes
// each top-level key of the file one secret whose keys are the binding's metadata names, the same shape
// as a Kubernetes Secret per binding, so secretKeyRef{name: binding, key: metadata} works in both places.
func LocalFileSecretStore(name, secretsFile string, opts Options) Component {
	return Component{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata: ObjectMeta{
			Name:        name,
			Labels:      OwnedLabels(opts.RuntimeID),
			Annotations: map[string]string{ManagedByAnnotation: ManagedByAgent},
		},
		Spec: Spec{
			Type:         "secretstores.local.file",
			Version:      Version,
			IgnoreErrors: opts.IgnoreErrors,
			Metadata: []MetadataItem{
				{Name: "secretsFile", Value: secretsFile},
				{Name: "multiValued", Value: "true"},
			},
		},
	}
}
