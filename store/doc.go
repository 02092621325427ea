// Package store keeps jitbot's requests, grants and audit trail in one bbolt
// file.
//
// All access goes through DB.Update and DB.View closures. A *Tx is valid only
// inside its closure and every value it returns is a copy, so callers may
// keep them. A DB is safe for concurrent use; bbolt allows one writer at a
// time and any number of readers. No network call belongs inside a closure.
//
// Besides the records, the store keeps index buckets (pending requests, live
// grants, requests and grants per user) that PutRequest and PutGrant update
// whenever a state or owner changes, so the lists the bot asks for at start-up
// and on every slash command are read without scanning all history.
//
// # Audit trail
//
// Tx.Append adds events to an append-only trail keyed by a big-endian
// sequence number (1, 2, 3 ...). Each event carries the hash of the event
// before it (PrevHash) and its own Hash: the hex SHA-256 of a canonical,
// length-prefixed encoding of every field except Hash (see Event.ChainHash).
// DB.Verify walks the trail and reports the first event that was edited,
// deleted, moved or that does not link to its predecessor.
//
// What this protects: someone who edits the file by hand, removes or reorders
// entries, or appends entries without recomputing the chain is caught, and
// Verify names the first sequence number that fails.
//
// What it does not protect: the hashes are not keyed, so anyone who can write
// the file can rewrite the trail from some event onward, recomputing every
// hash after it, or cut off the newest events; the result verifies. To catch
// that, keep an anchor outside this file: the sequence number and hash of the
// last event, as printed by "jitbot audit verify", stored somewhere the bot
// host cannot write (a ticket, a chat message, a log pipeline). Later, compare
// DB.Event(seq).Hash with the anchor and run Verify: a rewritten history no
// longer matches the anchor, and a trail cut short no longer reaches it.
//
// # Schema
//
// The meta bucket holds the schema version. Open runs pending migrations in
// one transaction and refuses a file written by a newer schema.
package store
