package assertion

// Refused reports whether err from Verify is a judgement on the assertion (missing, forged, expired,
// addressed elsewhere) rather than a failure to judge it (the keys could not be read): the first is the
// caller's to fix, the second is worth trying again.
func Refused(err error) bool { return isVerdict(err) }
