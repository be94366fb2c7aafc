package testkit

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// SVGTexts parses doc as XML, failing the test unless it is well-formed
// and its root element is <svg>, and returns the character data of its
// <text> elements in document order: what a test of a plot (the DET
// curve's SVG) checks its labels against.
func SVGTexts(t testing.TB, doc []byte) []string {
	t.Helper()
	var texts []string
	d := xml.NewDecoder(bytes.NewReader(doc))
	inText, root := false, ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			}
			inText = e.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, string(e))
			}
		case xml.EndElement:
			inText = false
		}
	}
	require.Equal(t, "svg", root, "root element")
	return texts
}
