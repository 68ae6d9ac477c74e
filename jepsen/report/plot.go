package report

import (
	"encoding/xml"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// Plot geometry, in SVG user units.
const (
	plotW, plotH                       = 960.0, 420.0
	marginL, marginR, marginT, marginB = 70.0, 20.0, 40.0, 50.0
	innerW, innerH                     = plotW - marginL - marginR, plotH - marginT - marginB
)

var typeColors = []struct {
	t     history.Type
	color string
}{
	{history.OK, "#2a9d3f"},
	{history.Info, "#e9a100"},
	{history.Fail, "#d62828"},
}

func colorOf(t history.Type) string {
	for _, c := range typeColors {
		if c.t == t {
			return c.color
		}
	}
	return "#777777"
}

// frame is one plot being drawn: the x axis is test time.
type frame struct {
	b    strings.Builder
	xmax float64 // seconds
}

func newFrame(title, ylabel string, ops []history.Op, windows []history.Window) *frame {
	f := &frame{xmax: 1}
	for _, op := range ops {
		f.xmax = math.Max(f.xmax, max(op.InvokeTime, op.CompleteTime).Seconds())
	}
	for _, w := range windows {
		f.xmax = math.Max(f.xmax, w.Stop.Seconds())
	}
	fmt.Fprintf(&f.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="11">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&f.b, `<rect width="%g" height="%g" fill="white"/>`+"\n", plotW, plotH)
	f.text(plotW/2, 20, "middle", 14, title)
	f.text(plotW/2, plotH-10, "middle", 11, "time since test start (s)")
	fmt.Fprintf(&f.b, `<text transform="translate(16 %g) rotate(-90)" text-anchor="middle">%s</text>`+"\n", marginT+innerH/2, esc(ylabel))
	for i, w := range windows {
		x0, x1 := f.x(w.Start.Seconds()), f.x(w.Stop.Seconds())
		fmt.Fprintf(&f.b, `<rect class="fault" x="%.1f" y="%g" width="%.1f" height="%g" fill="#d62828" fill-opacity="0.10"><title>%s</title></rect>`+"\n",
			x0, marginT, math.Max(x1-x0, 1), innerH, esc(strings.TrimSpace(w.Kind+" "+w.Detail)))
		f.text(x0+2, marginT+11+float64(i%3)*11, "start", 9, w.Kind)
	}
	// x axis
	step := niceStep(f.xmax, 12)
	for t := 0.0; t <= f.xmax+1e-9; t += step {
		x := f.x(t)
		fmt.Fprintf(&f.b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#bbbbbb"/>`+"\n", x, marginT+innerH, x, marginT+innerH+4)
		f.text(x, marginT+innerH+16, "middle", 10, trimFloat(t))
	}
	fmt.Fprintf(&f.b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#333333"/>`+"\n", marginL, marginT, innerW, innerH)
	// legend
	for i, c := range typeColors {
		x := plotW - marginR - 150 + float64(i)*50
		fmt.Fprintf(&f.b, `<rect x="%g" y="26" width="8" height="8" fill="%s"/>`+"\n", x, c.color)
		f.text(x+11, 34, "start", 10, string(c.t))
	}
	return f
}

func (f *frame) x(sec float64) float64 { return marginL + sec/f.xmax*innerW }

func (f *frame) text(x, y float64, anchor string, size float64, s string) {
	fmt.Fprintf(&f.b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%g">%s</text>`+"\n", x, y, anchor, size, esc(s))
}

func (f *frame) yTick(y float64, label string) {
	fmt.Fprintf(&f.b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#eeeeee"/>`+"\n", marginL, y, marginL+innerW, y)
	f.text(marginL-4, y+3, "end", 10, label)
}

func (f *frame) done() string {
	f.b.WriteString("</svg>\n")
	return f.b.String()
}

// LatencySVG plots each completed op at (invocation time, latency) on a
// logarithmic latency axis, coloured by outcome. Past maxPoints ops, ok ops
// are sampled evenly; info and fail ops are always drawn.
func LatencySVG(title string, ops []history.Op, windows []history.Window) string {
	f := newFrame(title+" — latency", "latency (ms)", ops, windows)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, op := range ops {
		ms := latencyMS(op)
		lo, hi = math.Min(lo, ms), math.Max(hi, ms)
	}
	if len(ops) == 0 {
		lo, hi = 1, 1000
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if d1 <= d0 {
		d1 = d0 + 1
	}
	y := func(ms float64) float64 {
		return marginT + innerH - (math.Log10(ms)-d0)/(d1-d0)*innerH
	}
	for d := d0; d <= d1; d++ {
		f.yTick(y(math.Pow(10, d)), trimFloat(math.Pow(10, d)))
	}
	for _, op := range thin(ops, maxPoints) {
		ms := latencyMS(op)
		fmt.Fprintf(&f.b, `<circle cx="%.1f" cy="%.1f" r="1.6" fill="%s" fill-opacity="0.7"><title>%s %s %.3gms</title></circle>`+"\n",
			f.x(op.InvokeTime.Seconds()), y(ms), colorOf(op.Type), esc(string(op.F)), esc(string(op.Type)), ms)
	}
	return f.done()
}

// maxPoints bounds the points of a latency plot, so a long run's SVG stays
// small enough for a browser.
const maxPoints = 20000

// thin keeps every info and fail op and an evenly spaced sample of the ok
// ops, so that at most about limit points remain.
func thin(ops []history.Op, limit int) []history.Op {
	if len(ops) <= limit {
		return ops
	}
	rare := 0
	for _, op := range ops {
		if op.Type != history.OK {
			rare++
		}
	}
	every := max(1, (len(ops)-rare)/max(1, limit-rare))
	out := make([]history.Op, 0, limit)
	n := 0
	for _, op := range ops {
		if op.Type == history.OK {
			if n++; n%every != 0 {
				continue
			}
		}
		out = append(out, op)
	}
	return out
}

// latencyMS is op's latency in milliseconds, at least a microsecond so the
// log axis has a floor.
func latencyMS(op history.Op) float64 {
	return math.Max(float64(op.Latency())/float64(time.Millisecond), 0.001)
}

// ThroughputSVG plots completions per second, one line per outcome, in
// buckets of about a sixtieth of the run (at least 100ms).
func ThroughputSVG(title string, ops []history.Op, windows []history.Window) string {
	f := newFrame(title+" — throughput", "completions per second", ops, windows)
	bucket := math.Max(niceStep(f.xmax, 60), 0.1)
	n := max(1, int(math.Ceil(f.xmax/bucket)))
	counts := map[history.Type][]float64{}
	for _, c := range typeColors {
		counts[c.t] = make([]float64, n)
	}
	top := 1.0
	for _, op := range ops {
		cs, ok := counts[op.Type]
		if !ok {
			continue
		}
		i := min(int(op.CompleteTime.Seconds()/bucket), n-1)
		cs[i] += 1 / bucket
		top = math.Max(top, cs[i])
	}
	top *= 1.1
	y := func(rate float64) float64 { return marginT + innerH - rate/top*innerH }
	step := niceStep(top, 6)
	for r := 0.0; r <= top; r += step {
		f.yTick(y(r), trimFloat(r))
	}
	for _, c := range typeColors {
		var pts strings.Builder
		for i, rate := range counts[c.t] {
			fmt.Fprintf(&pts, "%.1f,%.1f ", f.x((float64(i)+0.5)*bucket), y(rate))
		}
		fmt.Fprintf(&f.b, `<polyline class="%s" points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", c.t, strings.TrimSpace(pts.String()), c.color)
	}
	return f.done()
}

// niceStep is a 1-2-5 step that splits span into at most n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func trimFloat(v float64) string { return fmt.Sprintf("%.6g", v) }

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
