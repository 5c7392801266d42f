// Command log-sink is a stand-in logging service for trying the plane locally: it prints every request
// body it receives, with the token header, so that you can watch the demo runtime's log lines arrive
// after pointing its logging binding here through the Runtime Governor.
//
//	go run ./apps/log-sink -addr :8081 -header X-Log-Token
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", ":8081", "listen address")
	header := flag.String("header", "X-Log-Token", "header carrying the token")
	flag.Parse()
	log.Printf("log-sink listening on %s, showing header %s", *addr, *header)
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		fmt.Printf("%s %s=%q %s\n", time.Now().Format(time.TimeOnly), *header, r.Header.Get(*header), body)
	})}
	log.Fatal(srv.ListenAndServe())
}
