package harbortest

import (
	"encoding/json"
	"net/http"
	"time"
)

// The JSON bodies, field for field as api/v2.0/swagger.yaml defines them
// (Project, ProjectMetadata, CVEAllowlist, Repository, Artifact, Tag,
// Reference, Platform, AdditionLink, Errors, Error). Fields marked
// x-omitempty: false are always written; go-swagger writes the others
// only when set, except nested objects and time fields, which are always
// written (strfmt.DateTime in Harbor's millisecond format).

type projectJSON struct {
	ProjectID          int64           `json:"project_id"`
	OwnerID            int64           `json:"owner_id"`
	Name               string          `json:"name"`
	CreationTime       string          `json:"creation_time"`
	UpdateTime         string          `json:"update_time"`
	OwnerName          string          `json:"owner_name,omitempty"`
	CurrentUserRoleID  int             `json:"current_user_role_id,omitempty"`
	CurrentUserRoleIDs []int           `json:"current_user_role_ids,omitempty"`
	RepoCount          int             `json:"repo_count"`
	ChartCount         int             `json:"chart_count"`
	Metadata           projectMetadata `json:"metadata"`
	CVEAllowlist       cveAllowlist    `json:"cve_allowlist"`
}

type projectMetadata struct {
	Public string `json:"public"`
}

type cveAllowlist struct {
	ID           int64    `json:"id"`
	ProjectID    int64    `json:"project_id"`
	Items        []string `json:"items"`
	CreationTime string   `json:"creation_time"`
	UpdateTime   string   `json:"update_time"`
}

type repositoryJSON struct {
	ID            int64  `json:"id"`
	ProjectID     int64  `json:"project_id"`
	Name          string `json:"name"`
	ArtifactCount int64  `json:"artifact_count"`
	PullCount     int64  `json:"pull_count"`
	CreationTime  string `json:"creation_time"`
	UpdateTime    string `json:"update_time"`
}

type artifactJSON struct {
	ID                int64                   `json:"id"`
	Type              string                  `json:"type"`
	MediaType         string                  `json:"media_type"`
	ManifestMediaType string                  `json:"manifest_media_type"`
	ProjectID         int64                   `json:"project_id"`
	RepositoryID      int64                   `json:"repository_id"`
	Digest            string                  `json:"digest"`
	Size              int64                   `json:"size"`
	Icon              string                  `json:"icon"`
	PushTime          string                  `json:"push_time"`
	PullTime          string                  `json:"pull_time"`
	ExtraAttrs        map[string]any          `json:"extra_attrs"`
	Annotations       map[string]string       `json:"annotations"`
	References        []referenceJSON         `json:"references"`
	Tags              []tagJSON               `json:"tags"`
	AdditionLinks     map[string]additionLink `json:"addition_links"`
	Labels            []any                   `json:"labels"`
	Accessories       []any                   `json:"accessories"`
}

type tagJSON struct {
	ID           int64  `json:"id"`
	RepositoryID int64  `json:"repository_id"`
	ArtifactID   int64  `json:"artifact_id"`
	Name         string `json:"name"`
	PushTime     string `json:"push_time"`
	PullTime     string `json:"pull_time"`
	Immutable    bool   `json:"immutable"`
	Signed       bool   `json:"signed"`
}

type referenceJSON struct {
	ParentID    int64             `json:"parent_id"`
	ChildID     int64             `json:"child_id"`
	ChildDigest string            `json:"child_digest"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// platform is the swagger Platform (its os.version key is spelled
// "'os.version'" there; the replica leaves it out).
type platform struct {
	Architecture string `json:"architecture,omitempty"`
	OS           string `json:"os,omitempty"`
	Variant      string `json:"variant,omitempty"`
}

type additionLink struct {
	Href     string `json:"href"`
	Absolute bool   `json:"absolute"`
}

type errorsJSON struct {
	Errors []errorJSON `json:"errors"`
}

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// harborTime formats t as Harbor does (go-openapi strfmt.DateTime,
// milliseconds); the zero time is 0001-01-01T00:00:00.000Z.
func harborTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// writeError writes Harbor's error body (src/lib/http/error.go).
func writeError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(errorsJSON{Errors: []errorJSON{{Code: code, Message: message}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "internal server error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
