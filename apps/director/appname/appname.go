// Package appname is how runtimes see application names. Compass let applications take free-form names
// and gave runtimes a normalized form of them, "mp-" and lower-case letters, digits and '-', which a
// runtime can use as a Kubernetes name; a runtime says whether it wants that with its isNormalized label.
// Names are also unique in a tenant on their normalized form, so two applications never share one.
package appname

import (
	"regexp"
	"strings"
)

// Prefix starts every normalized name.
const Prefix = "mp-"

// IsNormalizedLabel is the runtime label that turns normalization on ("true", the default given to new
// runtimes) or off (anything else, such as "false").
const IsNormalizedLabel = "isNormalized"

var (
	invalidChars = regexp.MustCompile(`[^-a-z0-9]`)
	hyphens      = regexp.MustCompile(`-{2,}`)
	trailing     = regexp.MustCompile(`-$`)
)

// Normalize returns name as Compass's default normalizer did: a name that already is normalized stays as
// it is; any other gets the prefix, is lower-cased, has every character other than a-z, 0-9 and '-'
// replaced by '-', runs of '-' collapsed and a trailing '-' dropped. So "wordpress" and "mp-wordpress" both
// give "mp-wordpress".
func Normalize(name string) string {
	if strings.HasPrefix(name, Prefix) && clean(name) == name {
		return name
	}
	return clean(Prefix + name)
}

func clean(name string) string {
	n := strings.ToLower(name)
	n = invalidChars.ReplaceAllString(n, "-")
	n = hyphens.ReplaceAllString(n, "-")
	return trailing.ReplaceAllString(n, "")
}

// Normalizes reports whether a runtime with these labels sees normalized names. As in Compass, a runtime
// without the label does (runtimes registered before the label existed); with it, only the value "true"
// does. The boolean true counts too: label values are JSON, and `isNormalized: true` means the same.
func Normalizes(runtimeLabels map[string]any) bool {
	v, ok := runtimeLabels[IsNormalizedLabel]
	if !ok {
		return true
	}
	return v == "true" || v == true
}

// ForRuntime is name as a runtime with these labels sees it.
func ForRuntime(name string, runtimeLabels map[string]any) string {
	if Normalizes(runtimeLabels) {
		return Normalize(name)
	}
	return name
}
