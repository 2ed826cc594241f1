package agents

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"strings"

	"golang.org/x/image/draw"

	"github.com/agentteam/agentteam/executor"
	"github.com/agentteam/agentteam/llm"
)

// Vision: the figures a step displayed go to the model with that step's
// output, so that the planner and the coder can check the chart they asked
// for.

const (
	// MaxImageSide is the longest side of an image sent to a model.
	MaxImageSide = 1024
	// DefaultMaxImages is how many images one message carries at most.
	DefaultMaxImages = 3
	// maxImagePixels refuses images larger than this before decoding them
	// (a small PNG can claim a huge canvas).
	maxImagePixels = 40 << 20
)

// stepImages returns up to max images the executions displayed (the last
// ones when there are more), as PNG or JPEG data URLs no larger than
// MaxImageSide on their long side. Images that cannot be decoded are
// skipped.
func stepImages(execs []CodeExecution, max int) (imgs []llm.Image, skipped int) {
	var raw []string
	var types []string
	for _, e := range execs {
		if e.Result == nil {
			continue
		}
		for _, o := range e.Result.Outputs {
			if o.Type != executor.OutputDisplayData && o.Type != executor.OutputExecuteResult {
				continue
			}
			for _, mt := range []string{"image/png", "image/jpeg"} {
				if s, ok := o.Data[mt].(string); ok && s != "" {
					raw = append(raw, s)
					types = append(types, mt)
					break
				}
			}
		}
	}
	if len(raw) > max {
		skipped = len(raw) - max
		raw, types = raw[len(raw)-max:], types[len(types)-max:]
	}
	for i, s := range raw {
		url, err := downscale(s, types[i])
		if err != nil {
			skipped++
			continue
		}
		imgs = append(imgs, llm.Image{URL: url})
	}
	return imgs, skipped
}

// downscale decodes a base64 PNG or JPEG and returns it as a data URL, made
// smaller when its long side exceeds MaxImageSide.
func downscale(b64, mime string) (string, error) {
	data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return "", err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxImagePixels {
		return "", fmt.Errorf("image of %dx%d pixels refused", cfg.Width, cfg.Height)
	}
	if max(cfg.Width, cfg.Height) <= MaxImageSide {
		return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data), nil
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	w, h := cfg.Width, cfg.Height
	if w >= h {
		h = max(1, h*MaxImageSide/w)
		w = MaxImageSide
	} else {
		w = max(1, w*MaxImageSide/h)
		h = MaxImageSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	if mime == "image/jpeg" {
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 85})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, dst)
	}
	if err != nil {
		return "", err
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
