// Package stream is minicloud's durable stream log: every MQTT message (from a client of this
// node, HTTP ingest, a rule, or another node of the site) whose topic matches a stream's filters
// is appended to that stream's log on this node's disk, with its topic, payload, publish time and
// a unique id, and can be read back by offset or time. Around the log it forwards a stream's
// messages to other sites and to the cloud (store-and-forward, deduplicated at the receiver) and
// archives them into a bucket as time-partitioned NDJSON or Parquet objects.
//
// Layers, each in its own files:
//
//	record.go, segment.go, log.go, read.go, retention.go  the on-disk log of one stream (Log)
//	def.go, registry.go                                  stream definitions: a mesh table
//	manager.go, match.go, metrics.go                     the node's streams: which log takes a message
//	peersync.go, peers.go, relay.go, peerwire.go         the site's copies: ids, catch-up, wire format
//	batch.go, forward.go, importer.go, archive*.go       shipping messages out as objects
//
// Forwarding and archives travel as objects through the node's object layer (Objects), which
// already replicates them within the site, ships them to other hosting sites and to cloud sync
// targets across outages of any length; this package writes no RPC of its own.
//
// What is durable when: the broker calls Record before it acknowledges a QoS 1 or 2 publish
// (and HTTP ingest before it answers), and waits for the append: with Sync "fsync" (the
// default) the message is then fsynced on this node's disk; with "write" it is written (it
// survives kill -9, and is fsynced within SyncEvery). QoS 0 messages are appended without
// waiting. In a site of several nodes the node's journal (internal/node/streamrepl.go) also
// copies each logged message to the site's other live nodes, which log it as a Peer entry under
// the same id, and a QoS 1/2 publish is acknowledged only once W-1 of them have it durably as
// well (fewer only when fewer peers answer: counted, see there). A node that missed copies
// catches up from each origin's log (peersync.go), so every node's log converges on every
// message of the site, each once. The copy that is forwarded and archived is the
// one on the node the message entered by (its Local entry).
//
// Messages imported from other sites are appended as Imported entries by every node of the
// receiving site (each imports for itself) and then republished on that node's broker through
// Republisher: delivered to its subscribers and rules, neither journaled again nor handed to
// the site's other nodes nor forwarded on (only Local entries are), so a message reaches each
// site once in any mesh. Republication is at most once (a crash between the append and it skips
// it); the log is the record.
//
// It must not know the broker beyond the mqtt.Journal seam, nor the mesh beyond Options.Sites.
package stream
