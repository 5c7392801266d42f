package plane

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ServiceInstance is a service instance a runtime created through the System Broker: an application
// (service) and one of its bundles (plan), with the bindings made on it. A binding's status and
// credentials are those of the Director's instance auth with the same ID.
type ServiceInstance struct {
	ID        string    `json:"id"`
	RuntimeID string    `json:"runtimeId"`
	ServiceID string    `json:"serviceId"`
	PlanID    string    `json:"planId"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Bindings  []struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"createdAt"`
		Unbinding bool      `json:"unbinding"`
	} `json:"bindings"`
}

// ServiceInstancePage is one page of service instances, oldest first.
type ServiceInstancePage struct {
	Data        []ServiceInstance `json:"data"`
	EndCursor   string            `json:"endCursor"`
	HasNextPage bool              `json:"hasNextPage"`
	TotalCount  int               `json:"totalCount"`
}

// ServiceInstances lists the tenant's service instances, or one runtime's. The System Broker speaks the
// Open Service Broker API, which has no list, so this is its one REST read for people
// (GET /broker/v1/instances), reached through the gateway like everything else.
func (c *Client) ServiceInstances(ctx context.Context, token, runtimeID string, first int, after string) (ServiceInstancePage, error) {
	q := url.Values{"first": {strconv.Itoa(first)}}
	if runtimeID != "" {
		q.Set("runtimeId", runtimeID)
	}
	if after != "" {
		q.Set("after", after)
	}
	var page ServiceInstancePage
	resp, rid, err := c.send(ctx, token, http.MethodGet, "/broker/v1/instances?"+q.Encode(), nil)
	if err != nil {
		return page, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return page, fmt.Errorf("%w: %w", &Error{Code: "UNAVAILABLE", Message: "the System Broker's answer was cut off", RequestID: rid}, err)
	}
	if resp.StatusCode != http.StatusOK {
		// The broker and the gateway's refusals on its path both speak OSB: {"error", "description"}.
		var e struct{ Error, Description string }
		if json.Unmarshal(body, &e) != nil || e.Description == "" {
			return page, &Error{Code: "UNAVAILABLE", Message: fmt.Sprintf("the System Broker answered %d", resp.StatusCode), RequestID: rid}
		}
		return page, &Error{Code: e.Error, Message: e.Description, RequestID: rid}
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return page, fmt.Errorf("%w: %w", &Error{Code: "INTERNAL", Message: "the answer could not be read", RequestID: rid}, err)
	}
	return page, nil
}
