package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// maxUploadBytes bounds one upload the server accepts; Slack's own limit
// is 1 GB, far beyond what jitbot sends.
const maxUploadBytes = 64 << 20

// File is a file uploaded through files.getUploadURLExternal, the upload
// URL and files.completeUploadExternal.
type File struct {
	ID       string
	Name     string // the filename given to files.getUploadURLExternal
	Title    string // from files.completeUploadExternal; defaults to Name
	Length   int    // the length announced before the upload
	Content  []byte // the bytes posted to the upload URL
	Snippet  string // snippet_type, if any
	Channel  string // where it was shared; empty for a private file
	ThreadTS string // the thread it was shared into, if any
	Comment  string // initial_comment
	TS       string // when it was shared
}

// upload is a file between files.getUploadURLExternal and
// files.completeUploadExternal.
type upload struct {
	file     File
	received bool
	done     bool
}

// fileState is the server's record of uploads. It is guarded by
// Server.mu.
type fileState struct {
	seq     int
	uploads map[string]*upload // upload key -> upload
	byID    map[string]string  // file id -> upload key
	shared  []File
}

func (f *fileState) init() {
	f.uploads = make(map[string]*upload)
	f.byID = make(map[string]string)
}

func (s *Server) filesGetUploadURLExternal(p params) reply {
	length, err := strconv.Atoi(p["length"])
	if p["filename"] == "" || err != nil || length <= 0 {
		return apiError("invalid_arguments")
	}
	if length > maxUploadBytes {
		return apiError("file_upload_size_restricted")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files.seq++
	id := fmt.Sprintf("F%08d", s.files.seq)
	key := randomHex(12)
	s.files.uploads[key] = &upload{file: File{
		ID: id, Name: p["filename"], Length: length, Snippet: p["snippet_type"],
	}}
	s.files.byID[id] = key
	return ok(reply{"upload_url": s.http.URL + "/upload/v1/" + key, "file_id": id})
}

// serveUpload takes a file's bytes at its upload URL, raw or as a
// multipart form, and answers as Slack's upload service does: 200 with
// "OK - <length>", or a non-200 status on failure.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/upload/v1/")
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	content, err := readUpload(w, r)
	if err != nil {
		s.logf("upload %s refused: %v", key, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status, msg := s.storeUpload(key, content)
	s.logf("upload %d bytes status=%d", len(content), status)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func (s *Server) storeUpload(key string, content []byte) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, found := s.files.uploads[key]
	switch {
	case !found:
		return http.StatusNotFound, "no such upload"
	case u.received:
		return http.StatusConflict, "already uploaded"
	case len(content) != u.file.Length:
		return http.StatusBadRequest, fmt.Sprintf("announced %d bytes, received %d",
			u.file.Length, len(content))
	}
	u.file.Content = content
	u.received = true
	s.notifyLocked()
	return http.StatusOK, fmt.Sprintf("OK - %d", len(content))
}

// readUpload returns the file bytes of an upload request: the first file
// part of a multipart form, or the whole body.
func readUpload(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, maxUploadBytes+1)
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return io.ReadAll(body)
	}
	mr := multipart.NewReader(body, ctParams["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, fmt.Errorf("multipart form has no file part")
		}
		if err != nil {
			return nil, fmt.Errorf("read multipart form: %w", err)
		}
		if part.FileName() != "" {
			return io.ReadAll(part)
		}
	}
}

// completedFile is one entry of the files argument.
type completedFile struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

func (s *Server) filesCompleteUploadExternal(p params) reply {
	var list []completedFile
	if err := json.Unmarshal([]byte(p["files"]), &list); err != nil || len(list) == 0 {
		return apiError("invalid_arguments")
	}
	channel := p["channel_id"]
	if channel == "" {
		channel, _, _ = strings.Cut(p["channels"], ",")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if channel != "" {
		ch, err := s.resolveChannelLocked(channel)
		if err != nil {
			return apiError("channel_not_found")
		}
		channel = ch
	}
	ups, r := s.uploadsLocked(list)
	if r != nil {
		return r
	}
	out := make([]map[string]any, 0, len(ups))
	for i, u := range ups {
		u.done = true
		u.file.Title = list[i].Title
		if u.file.Title == "" {
			u.file.Title = u.file.Name
		}
		out = append(out, map[string]any{"id": u.file.ID, "title": u.file.Title})
		if channel != "" {
			s.shareLocked(u, channel, p["thread_ts"], p["initial_comment"])
		}
	}
	return ok(reply{"files": out})
}

// uploadsLocked finds the uploads a completion names; each must have its
// bytes and may be completed once. The caller holds s.mu.
func (s *Server) uploadsLocked(list []completedFile) ([]*upload, reply) {
	var ups []*upload
	for _, f := range list {
		u := s.files.uploads[s.files.byID[f.ID]]
		if u == nil || u.done {
			return nil, apiError("file_not_found")
		}
		if !u.received {
			return nil, apiError("file_not_found",
				"[ERROR] nothing was uploaded for file "+f.ID)
		}
		ups = append(ups, u)
	}
	return ups, nil
}

// shareLocked records u as shared in channel and emits the event. The
// caller holds s.mu.
func (s *Server) shareLocked(u *upload, channel, thread, comment string) {
	u.file.Channel, u.file.ThreadTS, u.file.Comment = channel, thread, comment
	u.file.TS = s.nextTSLocked()
	s.files.shared = append(s.files.shared, u.file)
	text := u.file.Title
	if comment != "" {
		text = comment + " — " + text
	}
	s.emitLocked(Event{
		Kind: EventFile, Channel: channel, TS: u.file.TS, ThreadTS: thread,
		Text:   text,
		Blocks: fmt.Sprintf("%s (%d bytes)", u.file.Name, len(u.file.Content)),
	})
}

// Files returns the files shared in a channel, oldest first.
func (s *Server) Files(channel string) []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, f := range s.files.shared {
		if f.Channel == channel {
			f.Content = append([]byte(nil), f.Content...)
			out = append(out, f)
		}
	}
	return out
}
