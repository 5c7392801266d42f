package fleetsim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Counters are the counters a Prometheus endpoint exposes, each series summed over its labels except
// the ones kept: "dapr_http_server_request_count{path=...}" stays apart per path, say, where the path
// tells which Dapr API an app used.
type Counters map[string]float64

// keptLabels are the labels that tell what a sidecar was asked to do; the others (app id, status code,
// latency bucket, ...) are summed away.
var keptLabels = []string{"method", "path", "operation", "component", "type", "success", "topic", "grpc_client_method", "grpc_server_method"}

// ScrapeCounters reads the counters at url (daprd's --metrics-port). Histograms count through their
// _count series; buckets and gauges are left out.
func ScrapeCounters(ctx context.Context, url string) (Counters, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseCounters(resp.Body)
}

func parseCounters(r io.Reader) (Counters, error) {
	out := Counters{}
	counter := map[string]bool{} // families declared as counters
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, typ, ok := strings.Cut(f, " "); ok && typ == "counter" {
				counter[name] = true
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := cutValue(line)
		if !ok {
			continue
		}
		name, labels, _ := strings.Cut(series, "{")
		switch {
		case strings.HasSuffix(name, "_count"):
		case counter[name] || counter[strings.TrimSuffix(name, "_total")]:
		default:
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		out[name+keep(strings.TrimSuffix(labels, "}"))] += v
	}
	return out, sc.Err()
}

// cutValue splits "series value [timestamp]" at the value, minding spaces inside label values.
func cutValue(line string) (series, value string, ok bool) {
	end := strings.LastIndexByte(line, '}')
	rest := line
	if end >= 0 {
		series, rest = line[:end+1], line[end+1:]
	}
	f := strings.Fields(rest)
	if end < 0 {
		if len(f) < 2 {
			return "", "", false
		}
		return f[0], f[1], true
	}
	if len(f) < 1 {
		return "", "", false
	}
	return series, f[0], true
}

// keep returns the kept labels of a label list, as "{k=v,...}", or "".
func keep(labels string) string {
	var kept []string
	for _, kv := range splitLabels(labels) {
		k, v, _ := strings.Cut(kv, "=")
		if slices.Contains(keptLabels, k) {
			kept = append(kept, k+"="+strings.Trim(v, `"`))
		}
	}
	if len(kept) == 0 {
		return ""
	}
	slices.Sort(kept)
	return "{" + strings.Join(kept, ",") + "}"
}

// splitLabels splits k="v",k2="v2" at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// Rates returns, per series, how much it grew per second from a to b, largest first, leaving out what
// grew by less than min per second.
func Rates(a, b Counters, wall time.Duration, min float64) []Rate {
	var out []Rate
	for k, vb := range b {
		r := (vb - a[k]) / wall.Seconds()
		if r >= min {
			out = append(out, Rate{Series: k, PerSecond: r})
		}
	}
	slices.SortFunc(out, func(x, y Rate) int {
		if x.PerSecond != y.PerSecond {
			if x.PerSecond > y.PerSecond {
				return -1
			}
			return 1
		}
		return strings.Compare(x.Series, y.Series)
	})
	return out
}

// Rate is how fast one counter grew.
type Rate struct {
	Series    string
	PerSecond float64
}
