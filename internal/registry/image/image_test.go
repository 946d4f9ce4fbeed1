package image

import (
	"strings"
	"testing"
)

func TestIsIndex(t *testing.T) {
	t.Parallel()
	cases := []struct {
		mediaType string
		want      bool
	}{
		{MediaTypeOCIIndex, true},
		{MediaTypeDockerList, true},
		{MediaTypeOCIManifest, false},
		{MediaTypeDockerManifest, false},
		{"", false},
		{strings.ToUpper(MediaTypeOCIIndex), false},
	}
	for _, tc := range cases {
		t.Run(tc.mediaType, func(t *testing.T) {
			t.Parallel()
			if got := IsIndex(tc.mediaType); got != tc.want {
				t.Errorf("IsIndex(%q) = %v, want %v", tc.mediaType, got, tc.want)
			}
			m := &Manifest{MediaType: tc.mediaType}
			if got := m.IsIndex(); got != tc.want {
				t.Errorf("Manifest.IsIndex() = %v, want %v", got, tc.want)
			}
		})
	}
}
