package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// console returns nd's /console page ("" if it does not answer 200).
func (nd *Node) console() string { return nd.adminGet("/console") }

var (
	membersRow = regexp.MustCompile(`<tr data-id="(node[0-9])"[^>]*>`)
	jobsRow    = regexp.MustCompile(`<tr data-path="t1/ns1/jobs"><td>t1/ns1/jobs</td>\s*<td class="n ready">(\d+)</td>[\s\S]*?<td class="n dead[^"]*">(\d+)</td>`)
	lagRow     = regexp.MustCompile(`data-group="billing" data-partition="0">[\s\S]*?<td class="n lag[^"]*">(\d+)</td>`)
)

// checkConsole returns what a console page (the server's HTML or the DOM a
// browser built from it) lacks of a 3-node cluster led by leader (in the
// members, the header and the leader changes) with the queue t1/ns1/jobs
// at 6 ready and 1 dead and the group billing 3 behind.
func checkConsole(page, leader string) error {
	var ids []string
	for _, m := range membersRow.FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	if fmt.Sprint(ids) != "[node1 node2 node3]" {
		return fmt.Errorf("members table rows %v, want node1 node2 node3", ids)
	}
	if !regexp.MustCompile(`<tr data-id="` + leader + `"[^>]*>[\s\S]*?<span class="leader">leader</span>`).MatchString(page) {
		return fmt.Errorf("members table does not show %s as the leader", leader)
	}
	if !strings.Contains(page, `id="leader-id">`+leader+`<`) {
		return fmt.Errorf("the header does not name %s the leader", leader)
	}
	if !regexp.MustCompile(`<table id="leaders">[\s\S]*?<b>` + leader + `</b>`).MatchString(page) {
		return fmt.Errorf("recent leader changes do not show %s's election", leader)
	}
	if m := jobsRow.FindStringSubmatch(page); m == nil || m[1] != "6" || m[2] != "1" {
		return fmt.Errorf("queue t1/ns1/jobs row: %v, want ready 6 and dead 1", m)
	}
	if m := lagRow.FindStringSubmatch(page); m == nil || m[1] != "3" {
		return fmt.Errorf("group billing partition 0: %v, want lag 3", m)
	}
	return nil
}

// TestConsoleInBrowser: every node of a 3-node cluster serves the console
// from its own state (the followers too), and a real headless Chromium
// loads a follower's page: its DOM holds the three members, the leader,
// the queue's depth and dead job and the group's lag, and its screenshot
// is a real rendering. Without Chromium the browser half is skipped with a
// note, unless FLOWMESH_REQUIRE_CHROMIUM=1 (.ci/run installs Chromium and
// sets it). FLOWMESH_CONSOLE_SCREENSHOT=FILE keeps the screenshot.
func TestConsoleInBrowser(t *testing.T) {
	slow(t)
	// Plaintext and open: the browser needs neither the cluster's CA nor
	// a token (the console's authorization is TestConsole's, cmd/node).
	c := StartClusterWith(t, ClusterOptions{Nodes: 3, Plaintext: true})
	leader := c.Nodes[c.Leader(20*time.Second)]
	ctx := withTimeout(t, 2*time.Minute)
	cl := c.Client(retryingConfig())
	if _, err := cl.CreateQueue(ctx, "t1", "ns1", "jobs", 1, flowmesh.WithMaxAttempts(1)); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if _, _, err := cl.Enqueue(ctx, "t1/ns1/jobs", []byte(fmt.Sprint(i)), flowmesh.QueueEnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	j, err := cl.Reserve(ctx, "t1/ns1/jobs", time.Minute)
	if err != nil || j == nil {
		t.Fatalf("reserve: %v, %v", j, err)
	}
	if err := cl.Nack(ctx, "t1/ns1/jobs", j.Receipt, 0); err != nil { // its last attempt: dead
		t.Fatal(err)
	}
	if _, err := cl.CreateStream(ctx, "t2", "app", "events", 1); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := cl.WriteEvents(ctx, "t2/app/events", []flowmesh.StreamEvent{{Payload: []byte(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.CommitOffset(ctx, "t2/app/events", "billing", 0, 2); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.Nodes {
		eventually(t, 30*time.Second, nd.ID+"'s console", func() error { return checkConsole(nd.console(), leader.ID) })
	}

	browser := chromium()
	if browser == "" && os.Getenv("FLOWMESH_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("FLOWMESH_REQUIRE_CHROMIUM=1 but no Chromium (chromium, chromium-browser or google-chrome on PATH, or FLOWMESH_CHROMIUM)")
	}
	if browser == "" {
		t.Skip("no Chromium (chromium, chromium-browser or google-chrome on PATH, or FLOWMESH_CHROMIUM): the headless browser check is skipped; apt-get install chromium")
	}
	var follower *Node
	for _, nd := range c.Nodes {
		if nd != leader {
			follower = nd
			break
		}
	}
	url := "http://" + follower.HTTPAddr + "/console?refresh=0"
	dir := t.TempDir()
	dom := runChromium(t, browser, dir, "--dump-dom", url)
	if err := checkConsole(dom, leader.ID); err != nil {
		t.Errorf("Chromium's DOM of %s's console: %v\n%s", follower.ID, err, dom)
	}
	if !strings.Contains(dom, `id="node-id">`+follower.ID+`<`) {
		t.Errorf("the DOM is not %s's page", follower.ID)
	}

	shot := filepath.Join(dir, "console.png")
	if keep := os.Getenv("FLOWMESH_CONSOLE_SCREENSHOT"); keep != "" {
		shot = keep
	}
	runChromium(t, browser, dir, "--screenshot="+shot, "--window-size=1280,1600", "--hide-scrollbars", url)
	checkScreenshot(t, shot, 1280, 1600)
	t.Logf("Chromium rendered %s's console: %s", follower.ID, shot)
}

// chromium returns the headless browser to use, "" when there is none.
func chromium() string {
	if b := os.Getenv("FLOWMESH_CHROMIUM"); b != "" {
		return b
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium runs the headless browser on url with args (bounded to a
// minute, its own profile in dir) and returns its stdout.
func runChromium(t *testing.T, browser, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + filepath.Join(dir, "profile")}
	cmd := exec.CommandContext(ctx, browser, append(a, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", browser, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// checkScreenshot checks that file is a w x h PNG with a real rendering on
// it: a blank or error page has a handful of colours, the console (text,
// table rules, the header bar, coloured roles) hundreds.
func checkScreenshot(t *testing.T, file string, w, h int) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", file, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	colours := map[[3]uint32]bool{}
	dark := 0 // the header bar's #1d2330 across the top
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
			if y < 20 && r>>8 < 0x40 && g>>8 < 0x40 && b>>8 < 0x50 {
				dark++
			}
		}
	}
	if len(colours) < 50 {
		t.Errorf("screenshot has %d colours: not a rendered console", len(colours))
	}
	if dark < w/4 {
		t.Errorf("screenshot's top has %d dark pixels of the header bar, want %d or more: the stylesheet did not apply (CSP?)", dark, w/4)
	}
}
