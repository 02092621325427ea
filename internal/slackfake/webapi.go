package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// params are a call's decoded arguments. Form values and JSON strings are
// kept as text; other JSON values are kept as their JSON encoding.
type params map[string]string

// reply is a Web API response body.
type reply map[string]any

func ok(fields reply) reply {
	fields["ok"] = true
	return fields
}

// apiError builds Slack's error body; messages go in response_metadata.
func apiError(code string, messages ...string) reply {
	r := reply{"ok": false, "error": code}
	if len(messages) > 0 {
		r["response_metadata"] = map[string]any{"messages": messages}
	}
	return r
}

type tokenKind int

const (
	botToken tokenKind = iota
	appToken
)

type method struct {
	token tokenKind
	serve func(s *Server, p params) reply
}

var methods = map[string]method{
	"apps.connections.open":        {appToken, (*Server).appsConnectionsOpen},
	"auth.test":                    {botToken, (*Server).authTest},
	"chat.postMessage":             {botToken, (*Server).chatPostMessage},
	"chat.update":                  {botToken, (*Server).chatUpdate},
	"chat.postEphemeral":           {botToken, (*Server).chatPostEphemeral},
	"conversations.open":           {botToken, (*Server).conversationsOpen},
	"files.getUploadURLExternal":   {botToken, (*Server).filesGetUploadURLExternal},
	"files.completeUploadExternal": {botToken, (*Server).filesCompleteUploadExternal},
	"users.info":                   {botToken, (*Server).usersInfo},
	"usergroups.users.list":        {botToken, (*Server).usergroupsUsersList},
	"views.open":                   {botToken, (*Server).viewsOpen},
	"views.update":                 {botToken, (*Server).viewsUpdate},
}

// Call is one Web API call the server received.
type Call struct {
	Method string
	Time   time.Time
	Params map[string]string // decoded arguments, token removed
	Error  string            // Slack error code; empty when ok
}

// injection is a planned failure for the next call of a method.
type injection struct {
	code       string
	retryAfter time.Duration // > 0 means HTTP 429
}

// FailNext makes the next n calls of method answer {"ok":false,"error":
// errCode}. Failures queue behind earlier ones.
func (s *Server) FailNext(method, errCode string, n int) {
	s.queueInjection(method, injection{code: errCode}, n)
}

// RateLimitNext makes the next n calls of method answer HTTP 429 with a
// Retry-After header (whole seconds, rounded up) and the ratelimited body.
func (s *Server) RateLimitNext(method string, retryAfter time.Duration, n int) {
	s.queueInjection(method, injection{code: "ratelimited", retryAfter: retryAfter}, n)
}

func (s *Server) queueInjection(method string, in injection, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.inject[method] = append(s.inject[method], in)
	}
}

func (s *Server) takeInjection(method string) (injection, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.inject[method]
	if len(q) == 0 {
		return injection{}, false
	}
	s.inject[method] = q[1:]
	return q[0], true
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/api/")
	p, token, err := decodeParams(r)
	if err != nil {
		s.respond(w, name, p, http.StatusOK, apiError("invalid_form_data"))
		return
	}
	m, known := methods[name]
	if !known {
		s.respond(w, name, p, http.StatusOK, apiError("unknown_method"))
		return
	}
	if code := s.checkToken(m.token, token); code != "" {
		s.respond(w, name, p, http.StatusOK, apiError(code))
		return
	}
	if in, planned := s.takeInjection(name); planned {
		s.respondInjected(w, name, p, in)
		return
	}
	s.respond(w, name, p, http.StatusOK, m.serve(s, p))
}

// checkToken returns the Slack error for a token, or "" when it is the
// one the method wants.
func (s *Server) checkToken(want tokenKind, token string) string {
	valid, other := s.opts.BotToken, s.opts.AppToken
	if want == appToken {
		valid, other = other, valid
	}
	switch token {
	case "":
		return "not_authed"
	case valid:
		return ""
	case other:
		return "not_allowed_token_type"
	}
	return "invalid_auth"
}

func (s *Server) respondInjected(w http.ResponseWriter, name string, p params, in injection) {
	if in.retryAfter <= 0 {
		s.respond(w, name, p, http.StatusOK, apiError(in.code))
		return
	}
	secs := int(math.Ceil(in.retryAfter.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.respond(w, name, p, http.StatusTooManyRequests, apiError(in.code))
}

func (s *Server) respond(w http.ResponseWriter, name string, p params, status int, body reply) {
	code, _ := body["error"].(string)
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: name, Time: s.clock.Now(), Params: p, Error: code})
	s.notifyLocked()
	s.mu.Unlock()
	if code != "" {
		s.logf("api %s error=%s status=%d", name, code, status)
	} else {
		s.logf("api %s ok", name)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// decodeParams reads a call's arguments from a form, a query or a JSON
// body, and its token from the Authorization header or the token field.
func decodeParams(r *http.Request) (params, string, error) {
	p := params{}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		if err := decodeJSONParams(r.Body, p); err != nil {
			return p, token, err
		}
	} else {
		if err := r.ParseForm(); err != nil {
			return p, token, fmt.Errorf("parse form: %w", err)
		}
		for k, v := range r.Form {
			p[k] = v[0]
		}
	}
	for k, v := range r.URL.Query() {
		if _, set := p[k]; !set {
			p[k] = v[0]
		}
	}
	if token == "" {
		token = p["token"]
	}
	delete(p, "token")
	return p, token, nil
}

func decodeJSONParams(body io.Reader, p params) error {
	raw, err := io.ReadAll(body)
	if err != nil || len(strings.TrimSpace(string(raw))) == 0 {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("decode json body: %w", err)
	}
	for k, v := range fields {
		var str string
		if json.Unmarshal(v, &str) == nil {
			p[k] = str
			continue
		}
		if string(v) != "null" {
			p[k] = string(v)
		}
	}
	return nil
}

func (s *Server) appsConnectionsOpen(params) reply {
	host := s.http.Listener.Addr().String()
	url := fmt.Sprintf("ws://%s/link/?ticket=%s&app_id=%s",
		host, s.sock.newTicket(), s.opts.AppID)
	return ok(reply{"url": url})
}

func (s *Server) authTest(params) reply {
	return ok(reply{
		"url":                   "https://" + s.opts.TeamDomain + ".slack.com/",
		"team":                  s.opts.TeamDomain,
		"user":                  "jitbot",
		"team_id":               s.opts.TeamID,
		"user_id":               s.opts.BotUserID,
		"bot_id":                s.opts.BotID,
		"is_enterprise_install": false,
	})
}

func (s *Server) usersInfo(p params) reply {
	s.mu.Lock()
	u, found := s.users[p["user"]]
	s.mu.Unlock()
	if !found {
		return apiError("user_not_found")
	}
	return ok(reply{"user": s.userObject(u)})
}

// userObject renders a user in the shape users.info returns.
func (s *Server) userObject(u User) map[string]any {
	profile := map[string]any{
		"real_name":               u.RealName,
		"real_name_normalized":    u.RealName,
		"display_name":            u.Name,
		"display_name_normalized": u.Name,
		"team":                    s.opts.TeamID,
	}
	if u.Email != "" {
		profile["email"] = u.Email
	}
	tz, label, offset := zoneOf(u.TZ, s.clock.Now())
	return map[string]any{
		"id": u.ID, "team_id": s.opts.TeamID, "name": u.Name,
		"deleted": false, "color": "9f69e7", "real_name": u.RealName,
		"tz": tz, "tz_label": label, "tz_offset": offset,
		"profile":  profile,
		"is_admin": false, "is_owner": false, "is_primary_owner": false,
		"is_restricted": false, "is_ultra_restricted": false,
		"is_bot": false, "is_app_user": false, "has_2fa": false,
		"updated": s.clock.Now().Unix(),
	}
}

// zoneOf returns a zone's name, a label and its offset in seconds at t.
func zoneOf(name string, t time.Time) (string, string, int) {
	if name == "" {
		name = "UTC"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return name, name, 0
	}
	abbr, offset := t.In(loc).Zone()
	return name, abbr, offset
}

func (s *Server) usergroupsUsersList(p params) reply {
	s.mu.Lock()
	members, found := s.opts.UserGroups[p["usergroup"]]
	s.mu.Unlock()
	if !found {
		return apiError("no_such_subteam")
	}
	return ok(reply{"users": append([]string{}, members...)})
}

func (s *Server) conversationsOpen(p params) reply {
	if p["users"] == "" {
		return apiError("users_list_not_supplied")
	}
	users := strings.Split(p["users"], ",")
	if len(users) > 1 {
		// TODO(slackfake): group DMs are not emulated; jitbot opens 1:1 DMs only.
		return apiError("method_not_supported_for_channel_type")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known := s.users[users[0]]; !known {
		return apiError("user_not_found")
	}
	_, already := s.ims[users[0]]
	id := s.imLocked(users[0])
	if p["return_im"] != "true" {
		r := reply{"channel": map[string]any{"id": id}}
		if already {
			r["no_op"], r["already_open"] = true, true
		}
		return ok(r)
	}
	return ok(reply{
		"no_op": already, "already_open": already,
		"channel": map[string]any{
			"id": id, "created": s.clock.Now().Unix(), "is_im": true,
			"is_org_shared": false, "user": users[0], "is_open": true,
			"last_read": "0000000000.000000", "latest": nil,
			"unread_count": 0, "unread_count_display": 0, "priority": 0,
		},
	})
}

// imLocked returns the IM channel with a user, opening it if needed.
// The caller holds s.mu.
func (s *Server) imLocked(user string) string {
	if id, open := s.ims[user]; open {
		return id
	}
	id := fmt.Sprintf("D%08d", len(s.ims)+1)
	s.ims[user] = id
	s.imUsers[id] = user
	return id
}

// resolveChannelLocked maps a channel argument to a channel id: a known
// channel, an open IM, or a user id (which posts to the IM with that
// user). The caller holds s.mu.
func (s *Server) resolveChannelLocked(arg string) (string, error) {
	if _, known := s.channels[arg]; known {
		return arg, nil
	}
	if _, known := s.imUsers[arg]; known {
		return arg, nil
	}
	if _, known := s.users[arg]; known {
		return s.imLocked(arg), nil
	}
	return "", errors.New("channel_not_found")
}
