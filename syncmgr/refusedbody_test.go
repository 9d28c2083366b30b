package syncmgr_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/syncproto"
)

// TestRefusedBodyClosesConnection: a request refused before its body is
// read (here an upload with a wrong secret whose chunked body trickles in
// and never ends) is answered with Connection: close and its connection
// closed at once, instead of the server reading the rest of the body
// until its read timeout.
func TestRefusedBodyClosesConnection(t *testing.T) {
	testutil.ForBackends(t, testRefusedBodyClosesConnection)
}

func testRefusedBodyClosesConnection(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	u, _ := url.Parse(f.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "PUT " + syncproto.UploadPath(1) + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nAuthorization: Basic YW5uLWxhcHRvcDp3cm9uZw==\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "unknown node or wrong secret") {
		t.Fatalf("refusal: %d %s", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Fatalf("the refusal does not close the connection (headers %v)", resp.Header)
	}
	// Keep trickling the body: the server must not wait for it.
	go func() {
		for range 40 {
			if _, err := io.WriteString(conn, "1\r\nx\r\n"); err != nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("the connection stayed open after the refusal: %v", err)
	}
}

// isReset reports a connection the peer reset.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
