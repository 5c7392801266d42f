package model

// NewPageInfo describes a page the way Compass does: endCursor continues the list after this page, and is
// empty on the last page, where there is nothing to continue to.
func NewPageInfo(startCursor, endCursor string, hasNextPage bool) *PageInfo {
	if !hasNextPage {
		endCursor = ""
	}
	return &PageInfo{StartCursor: startCursor, EndCursor: endCursor, HasNextPage: hasNextPage}
}
