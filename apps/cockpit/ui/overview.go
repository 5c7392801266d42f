package ui

import (
	"net/http"
	"sort"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// overviewScan caps how many runtimes the overview reads to count them by status: the counts say when
// they stop short, rather than the page reading a whole fleet on every visit.
const overviewScan = 1000

// attentionShown is how many runtimes with a failed apply, or drifted, the overview lists of each.
const attentionShown = 20

type overviewView struct {
	Applications int
	AppsErr      *plane.Error
	Runtimes     int
	RuntimesErr  *plane.Error
	// ByStatus counts the runtimes read, by condition, in the order of the conditions' names.
	ByStatus []statusCount
	// Scanned is how many runtimes were read, less than Runtimes when the fleet is larger than the scan.
	Scanned int
	// Attention lists the FAILED runtimes read, the first thing to look at.
	Attention []plane.Runtime
	// FailedApplies and Drifted are the runtimes whose agent last reported FAILED or DRIFTED (the first
	// attentionShown of each, with the totals); ConfigErr says why they could not be read.
	FailedApplies, Drifted plane.ApplyStatusPage
	ConfigErr              *plane.Error
	// FailedAuths are instance auths the applications refused or failed to answer.
	FailedAuths    plane.InstanceAuthRefPage
	FailedAuthsErr *plane.Error
	// Recent is what happened lately in the tenant, newest first.
	Recent []audit.Record
}

type statusCount struct {
	Condition string
	Count     int
}

func (s *server) overview(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	var v overviewView
	if sess.Can(identity.ScopeApplicationRead) {
		page, err := s.Plane.Applications(r.Context(), sess.Token, nil, 1, "")
		if err != nil {
			_, v.AppsErr = s.apiError(r, err)
		}
		v.Applications = page.TotalCount
	}
	var ids []string
	if sess.Can(identity.ScopeRuntimeRead) {
		counts := map[string]int{}
		after := ""
		for v.Scanned < overviewScan {
			page, err := s.Plane.Runtimes(r.Context(), sess.Token, nil, 200, after, false)
			if err != nil {
				_, v.RuntimesErr = s.apiError(r, err)
				break
			}
			v.Runtimes = page.TotalCount
			for _, rt := range page.Data {
				counts[rt.Status.Condition]++
				if rt.Status.Condition == "FAILED" {
					v.Attention = append(v.Attention, rt)
					ids = append(ids, rt.ID)
				}
			}
			v.Scanned += len(page.Data)
			if !page.PageInfo.HasNextPage {
				break
			}
			after = page.PageInfo.EndCursor
		}
		for c, n := range counts {
			v.ByStatus = append(v.ByStatus, statusCount{c, n})
		}
		sort.Slice(v.ByStatus, func(i, j int) bool { return v.ByStatus[i].Condition < v.ByStatus[j].Condition })
	}
	if sess.Can(identity.ScopeApplicationRead) {
		var err error
		if v.FailedAuths, err = s.Plane.InstanceAuthsWithCondition(r.Context(), sess.Token, "FAILED", attentionShown); err != nil {
			_, v.FailedAuthsErr = s.apiError(r, err)
		}
	}
	if sess.Can(identity.ScopeConfigurationRead) {
		for status, dst := range map[string]*plane.ApplyStatusPage{"FAILED": &v.FailedApplies, "DRIFTED": &v.Drifted} {
			page, err := s.Plane.RuntimesWithStatus(r.Context(), sess.Token, status, attentionShown)
			if err != nil {
				_, v.ConfigErr = s.apiError(r, err)
				continue
			}
			*dst = page
			for _, st := range page.Data {
				ids = append(ids, st.RuntimeID)
			}
		}
	}
	if s.Activity != nil {
		v.Recent = s.Activity.Recent(r.Context(), sess.Tenant, 15)
	}
	if len(ids) > 50 {
		ids = ids[:50]
	}
	s.render(w, r, http.StatusOK, "overview", &view{Title: "Overview", Nav: "overview", Session: sess, Live: watch(sess, ids...), Data: v})
}
