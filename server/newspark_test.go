package server_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// TestNewsWaitsParked: news requests that wait hold no goroutine of the
// server each (their connections are parked with the Synchronization
// Manager); news reaches every one of them, answered with Connection:
// close.
func TestNewsWaitsParked(t *testing.T) {
	const waiting = 40
	ctx := context.Background()
	srv, url := testutil.StartServer(t, server.Config{DB: testutil.Backends[0].DB(t), NoTokenFile: true,
		Limits: server.Limits{NodeNews: waiting}, MetricsListen: "127.0.0.1:0"})
	adm := srv.Admin()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	added, err := adm.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	nr, err := srv.Store().NodeRouting(ctx, "ann-laptop")
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(url, "http://")
	auth := base64.StdEncoding.EncodeToString([]byte("ann-laptop:" + added.Secret))
	before := runtime.NumGoroutine()
	var conns []net.Conn
	for range waiting {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n\r\n", syncproto.NewsAfterPath(nr.OutboxNext-1), addr, auth)
		conns = append(conns, c)
	}
	if m := scrapeUntil(t, srv, series("sync_news_waiters"), waiting); m[series("sync_news_waiters")] != waiting {
		t.Fatalf("news waiters: %v, want %d", m[series("sync_news_waiters")], waiting)
	}
	if grew := runtime.NumGoroutine() - before; grew > waiting/4 {
		t.Fatalf("%d waiting news requests hold %d more goroutines", waiting, grew)
	}
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"}); err != nil {
		t.Fatal(err) // every node sees employees: news for ann-laptop
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("news request %d: %v", i, err)
		}
		var news syncproto.News
		err = json.NewDecoder(resp.Body).Decode(&news)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !resp.Close || !news.News || news.OutboxLast < nr.OutboxNext {
			t.Fatalf("news request %d answered %d (close %v): %+v %v", i, resp.StatusCode, resp.Close, news, err)
		}
	}
}
