package object

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/minicloud/minicloud/internal/crdt"
	"github.com/minicloud/minicloud/internal/metastore"
	"github.com/minicloud/minicloud/internal/placement"
)

// Anti-entropy's view of a replica: a hash tree per partition over the hash of (bucket, key).
//
// Every replicated record has an index entry
//
//	'x' partition(2) keyhash(8) storageKey -> fingerprint(16)
//
// written in the same batch as the record, so that one partition's records, and within it any
// range of key hashes, are one contiguous scan (the records themselves sort by bucket and key,
// which spreads a partition over the whole store). A node of the tree is a range of key hashes:
// the root is the partition, each node has 16 children (the next 4 bits of the key hash), down to
// 64 bits. The 256 nodes two levels down (the leaves kept in memory) hold the XOR of their
// records' fingerprints and their count, updated as records are committed, so the two levels
// above them (inner nodes: a hash of their 16 children) cost nothing to read. Nodes below the
// leaves are computed when asked for, from a scan of their range in the index (XOR and count),
// which is how two replicas narrow a difference down to a few records without either listing a
// whole partition.
//
// The index is built at Open from the records when a store has none yet (the marker key 'X' tells
// that it is complete), so a store written before it existed needs no migration step.

const (
	tagIndex     = 'x'
	tagIndexMeta = 'X'

	// TreeFanout is the number of children of a tree node.
	TreeFanout = 16
	// TreeMaxDepth is the depth of the deepest nodes: the 64 bits of the key hash, 4 per level.
	TreeMaxDepth = 16
	// TreeLeafDepth is the depth of the nodes kept in memory.
	TreeLeafDepth = 2
	treeLeaves    = 1 << (4 * TreeLeafDepth)
)

// Fingerprint identifies one state of one record: equal fingerprints, equal records.
type Fingerprint [16]byte

// RecordFingerprint is the fingerprint of a version record as stored (enc is its encoding).
func RecordFingerprint(bucket, key string, v crdt.Version, enc []byte) Fingerprint {
	h := sha256.New()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(v.TS))
	binary.BigEndian.PutUint64(b[8:], v.Node)
	h.Write(b[:])
	h.Write(enc)
	var f Fingerprint
	copy(f[:], h.Sum(nil))
	return f
}

// Fingerprint is the fingerprint of the record m carries.
func (m RecordMsg) Fingerprint() Fingerprint {
	if m.Kind == 0 {
		return RecordFingerprint(m.Bucket, m.Key, m.Version, m.Enc)
	}
	// Multipart state: its kind and upload id (and part number) are part of its identity.
	enc := make([]byte, 0, 2+len(m.Sub)+len(m.Enc))
	enc = append(append(append(enc, m.Kind), m.Sub...), 0)
	return RecordFingerprint(m.Bucket, m.Key, m.Version, append(enc, m.Enc...))
}

// TreeNode is what a node of a partition's tree holds: a hash of its records and their number.
type TreeNode struct {
	Hash  Fingerprint
	Count int64
}

func keyHash(bucket, key string) uint64 {
	h := sha256.New()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [32]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0])[:8])
}

func indexPartPrefix(p int) []byte { return []byte{tagIndex, byte(p >> 8), byte(p)} }

func indexKey(p int, kh uint64, storageKey []byte) []byte {
	k := make([]byte, 0, 11+len(storageKey))
	k = append(k, indexPartPrefix(p)...)
	k = binary.BigEndian.AppendUint64(k, kh)
	return append(k, storageKey...)
}

// nodeRange returns the index key range [lo, hi) of node (depth, prefix) of partition p.
func nodeRange(p, depth int, prefix uint64) (lo, hi []byte) {
	base := indexPartPrefix(p)
	if depth == 0 {
		return base, prefixEnd(base)
	}
	shift := uint(64 - 4*depth)
	lo = binary.BigEndian.AppendUint64(append([]byte(nil), base...), prefix<<shift)
	next := prefix + 1
	if depth < TreeMaxDepth && next == 1<<(4*depth) || depth == TreeMaxDepth && next == 0 {
		return lo, prefixEnd(base)
	}
	return lo, binary.BigEndian.AppendUint64(append([]byte(nil), base...), next<<shift)
}

// tree is the in-memory part of every partition's tree: its leaves.
type tree struct {
	mu    sync.Mutex
	parts [placement.Partitions]*[treeLeaves]TreeNode
}

// treeDelta is one record entering (n=1) or leaving (n=-1) a partition's tree.
type treeDelta struct {
	p  int
	kh uint64
	fp Fingerprint
	n  int64
}

func (t *tree) apply(ds []treeDelta) {
	if len(ds) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range ds {
		leaves := t.parts[d.p]
		if leaves == nil {
			leaves = new([treeLeaves]TreeNode)
			t.parts[d.p] = leaves
		}
		l := &leaves[d.kh>>(64-4*TreeLeafDepth)]
		for i := range l.Hash {
			l.Hash[i] ^= d.fp[i]
		}
		l.Count += d.n
	}
}

// indexAdd records in b that storage key sk holds m's record (m.Enc as stored).
func indexAdd(b *metastore.Batch, m RecordMsg, sk []byte, ds *[]treeDelta) {
	p, kh := placement.Partition(m.Bucket, m.Key), keyHash(m.Bucket, m.Key)
	fp := m.Fingerprint()
	b.Set(indexKey(p, kh, sk), fp[:])
	*ds = append(*ds, treeDelta{p: p, kh: kh, fp: fp, n: 1})
}

// indexRemove records in b that storage key sk (a record of bucket/key) goes.
func (s *Store) indexRemove(b *metastore.Batch, bucket, key string, sk []byte, ds *[]treeDelta) error {
	p, kh := placement.Partition(bucket, key), keyHash(bucket, key)
	ik := indexKey(p, kh, sk)
	old, err := s.db.Get(ik)
	if errors.Is(err, metastore.ErrNotFound) {
		s.log.Warn("record without an index entry", "bucket", bucket, "key", key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("index of %s/%s: %w", bucket, key, err)
	}
	var fp Fingerprint
	copy(fp[:], old)
	b.Delete(ik)
	*ds = append(*ds, treeDelta{p: p, kh: kh, fp: fp, n: -1})
	return nil
}

// loadTree fills the in-memory leaves from the index, building the index first if this store
// has none yet.
func (s *Store) loadTree() error {
	if _, err := s.db.Get([]byte{tagIndexMeta}); errors.Is(err, metastore.ErrNotFound) {
		if err := s.buildIndex(); err != nil {
			return fmt.Errorf("build the anti-entropy index: %w", err)
		}
	} else if err != nil {
		return err
	}
	var ds []treeDelta
	err := s.scan([]byte{tagIndex}, func(k, v []byte) (bool, error) {
		if len(k) < 11 || len(v) != 16 {
			return false, fmt.Errorf("bad index entry %q", k)
		}
		d := treeDelta{p: int(k[1])<<8 | int(k[2]), kh: binary.BigEndian.Uint64(k[3:11]), n: 1}
		copy(d.fp[:], v)
		if d.p >= placement.Partitions {
			return false, fmt.Errorf("bad index entry %q", k)
		}
		ds = append(ds, d)
		if len(ds) == 4096 {
			s.tree.apply(ds)
			ds = ds[:0]
		}
		return true, nil
	})
	s.tree.apply(ds)
	return err
}

// buildIndex writes the index entries of every record (a store from before the index).
func (s *Store) buildIndex() error {
	b := s.db.NewBatch()
	n := 0
	var ds []treeDelta
	err := s.ScanRecords(context.Background(), func(m RecordMsg) error {
		indexAdd(b, m, versionKey(m.Bucket, m.Key, m.Version), &ds)
		if n++; n%1000 == 0 {
			if err := b.Commit(false); err != nil {
				return err
			}
			b.Close()
			b = s.db.NewBatch()
		}
		return nil
	})
	if err != nil {
		b.Close()
		return err
	}
	b.Set([]byte{tagIndexMeta}, []byte("1"))
	err = b.Commit(true)
	b.Close()
	if n > 0 {
		s.log.Info("built the anti-entropy index", "records", n)
	}
	return err
}

func innerHash(children []TreeNode) TreeNode {
	var out TreeNode
	h := sha256.New()
	for _, c := range children {
		out.Count += c.Count
		h.Write(c.Hash[:])
	}
	if out.Count != 0 {
		copy(out.Hash[:], h.Sum(nil))
	}
	return out
}

// level1 returns the 16 nodes below the root of partition p (under t.mu).
func (t *tree) level1(p int) [TreeFanout]TreeNode {
	var out [TreeFanout]TreeNode
	leaves := t.parts[p]
	if leaves == nil {
		return out
	}
	for i := range out {
		out[i] = innerHash(leaves[i*TreeFanout : (i+1)*TreeFanout])
	}
	return out
}

// TreeRoot returns the root of partition p's tree: equal roots, equal records.
func (s *Store) TreeRoot(p int) TreeNode {
	if p < 0 || p >= placement.Partitions {
		return TreeNode{}
	}
	s.tree.mu.Lock()
	l1 := s.tree.level1(p)
	s.tree.mu.Unlock()
	return innerHash(l1[:])
}

// ErrBadTreeNode is returned for a tree node that cannot exist.
var ErrBadTreeNode = errors.New("no such tree node")

func checkNode(p, depth int, prefix uint64) error {
	if p < 0 || p >= placement.Partitions || depth < 0 || depth > TreeMaxDepth ||
		depth < TreeMaxDepth && prefix >= 1<<(4*depth) {
		return ErrBadTreeNode
	}
	return nil
}

// TreeChildren returns the 16 children of node (depth, prefix) of partition p's tree, the child
// with index i having prefix prefix*16+i. Below the leaves they come from a scan of the node's
// range of the index.
func (s *Store) TreeChildren(p, depth int, prefix uint64) ([]TreeNode, error) {
	if err := checkNode(p, depth, prefix); err != nil || depth == TreeMaxDepth {
		return nil, ErrBadTreeNode
	}
	out := make([]TreeNode, TreeFanout)
	switch depth {
	case 0:
		s.tree.mu.Lock()
		l1 := s.tree.level1(p)
		s.tree.mu.Unlock()
		copy(out, l1[:])
		return out, nil
	case 1:
		s.tree.mu.Lock()
		if leaves := s.tree.parts[p]; leaves != nil {
			copy(out, leaves[prefix*TreeFanout:(prefix+1)*TreeFanout])
		}
		s.tree.mu.Unlock()
		return out, nil
	}
	shift := uint(64 - 4*(depth+1))
	err := s.scanNode(p, depth, prefix, func(kh uint64, _ []byte, fp Fingerprint) error {
		c := &out[(kh>>shift)&(TreeFanout-1)]
		for i := range c.Hash {
			c.Hash[i] ^= fp[i]
		}
		c.Count++
		return nil
	})
	return out, err
}

// scanNode calls fn for each index entry in node (depth, prefix) of partition p.
func (s *Store) scanNode(p, depth int, prefix uint64, fn func(kh uint64, storageKey []byte, fp Fingerprint) error) error {
	if err := checkNode(p, depth, prefix); err != nil {
		return err
	}
	lo, hi := nodeRange(p, depth, prefix)
	it, err := s.db.NewIter(lo, hi)
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		v, err := it.Value()
		if err != nil {
			return err
		}
		if len(k) < 11 || len(v) != 16 {
			return fmt.Errorf("bad index entry %q", k)
		}
		var fp Fingerprint
		copy(fp[:], v)
		if err := fn(binary.BigEndian.Uint64(k[3:11]), k[11:], fp); err != nil {
			return err
		}
	}
	return nil
}

// NodeFingerprints returns the fingerprints of the records in node (depth, prefix) of partition p.
func (s *Store) NodeFingerprints(p, depth int, prefix uint64) ([]Fingerprint, error) {
	var out []Fingerprint
	err := s.scanNode(p, depth, prefix, func(_ uint64, _ []byte, fp Fingerprint) error {
		out = append(out, fp)
		return nil
	})
	return out, err
}

// NodeRecords returns the records in node (depth, prefix) of partition p whose fingerprint
// want accepts.
func (s *Store) NodeRecords(p, depth int, prefix uint64, want func(Fingerprint) bool) ([]RecordMsg, error) {
	var out []RecordMsg
	err := s.scanNode(p, depth, prefix, func(_ uint64, sk []byte, fp Fingerprint) error {
		if !want(fp) {
			return nil
		}
		m, ok, err := s.recordAt(sk)
		if err != nil {
			return err
		}
		if ok && m.Fingerprint() == fp { // a record changed since the scan began is sent next round
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// recordAt loads the record stored at storage key sk.
func (s *Store) recordAt(sk []byte) (RecordMsg, bool, error) {
	if len(sk) > 0 && (sk[0] == KindUpload || sk[0] == KindPart) {
		v, err := s.db.Get(sk)
		if errors.Is(err, metastore.ErrNotFound) {
			return RecordMsg{}, false, nil
		}
		if err != nil {
			return RecordMsg{}, false, err
		}
		m, err := recordAtKind(sk, v)
		return m, err == nil, err
	}
	if len(sk) == 0 || sk[0] != tagVersion {
		return RecordMsg{}, false, fmt.Errorf("index points at %q", sk)
	}
	i := bytes.IndexByte(sk[1:], 0)
	if i < 0 {
		return RecordMsg{}, false, fmt.Errorf("index points at %q", sk)
	}
	bucket := string(sk[1 : 1+i])
	key, ver, ok := splitVersionKey(sk, 1+i+1)
	if !ok {
		return RecordMsg{}, false, fmt.Errorf("index points at %q", sk)
	}
	v, err := s.db.Get(sk)
	if errors.Is(err, metastore.ErrNotFound) {
		return RecordMsg{}, false, nil
	}
	if err != nil {
		return RecordMsg{}, false, err
	}
	return RecordMsg{Bucket: bucket, Key: key, Version: ver, Enc: v}, true, nil
}

// tagState keys small node-level flags of the replication layer.
const tagState = 'F'

var refillingKey = []byte{tagState, 'r', 'e', 'f', 'i', 'l', 'l'}

// SetRefilling records durably whether this replica is being refilled from its peers (a node
// that restarts while being refilled must go on being treated as such: what it lacks is still
// missing).
func (s *Store) SetRefilling(on bool) error {
	b := s.db.NewBatch()
	defer b.Close()
	if on {
		b.Set(refillingKey, []byte{1})
	} else {
		b.Delete(refillingKey)
	}
	if err := b.Commit(true); err != nil {
		return fmt.Errorf("record the refilling state: %w", err)
	}
	return nil
}

// Refilling reports whether SetRefilling(true) is in force.
func (s *Store) Refilling() bool {
	_, err := s.db.Get(refillingKey)
	return err == nil
}
