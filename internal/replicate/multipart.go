package replicate

import (
	"context"
	"io"
	"net/url"
	"time"

	"github.com/minicloud/minicloud/internal/object"
	"github.com/minicloud/minicloud/internal/s3err"
)

// Multipart uploads are replicated like versions (object/multipart.go): the upload record and
// each part record are committed on W replicas of the key's partition, with the parts' chunks,
// and merge as CRDTs. So any node takes an upload's parts, lists them, completes or aborts it,
// whichever node began it, and an upload survives the loss of the node it began on. Reads of an
// upload's state ask R replicas, as reads of a key do; anti-entropy and hints cover them too.
// Upload records do not go to other sites: an upload belongs to the site it runs in, and its
// completed object is what is shipped.

// readUpload merges what a read quorum of the key's replicas hold of an upload.
func (s *Store) readUpload(ctx context.Context, bucket, key, uploadID string) (*object.UploadState, error) {
	if err := s.layoutReady(ctx); err != nil {
		return nil, err
	}
	if _, err := s.local.GetBucket(ctx, bucket); err != nil {
		return nil, err
	}
	q := url.Values{"bucket": {bucket}, "key": {key}, "upload": {uploadID}}
	msgs, err := s.quorumRecords(ctx, bucket, key, func() ([]object.RecordMsg, error) {
		return s.local.UploadRecords(bucket, key, uploadID)
	}, "/rpc/upload", q)
	if err != nil {
		return nil, err
	}
	return object.MergeUpload(bucket, key, uploadID, msgs)
}

// quorumRecords asks every live replica of bucket/key for records (local answers for this node,
// GET path?q for the others) and returns what a read quorum answered.
func (s *Store) quorumRecords(ctx context.Context, bucket, key string, local func() ([]object.RecordMsg, error), path string, q url.Values) ([]object.RecordMsg, error) {
	cur, prev := s.replicaSets(bucket, key)
	reps := union(cur, prev)
	qc := s.newQuorumCheck(cur, prev, s.o.R)
	type result struct {
		node string
		msgs []object.RecordMsg
		err  error
	}
	results := make(chan result, len(reps))
	asked := 0
	for _, n := range reps {
		if n != s.self() && !s.o.Cluster.Alive(n) {
			continue
		}
		asked++
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if n == s.self() {
				m, err := local()
				results <- result{n, m, err}
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var m []object.RecordMsg
			err := s.o.Client.do(cctx, "GET", s.o.Cluster.RPCAddr(n), path, q, nil, &m)
			results <- result{n, m, err}
		}()
	}
	var all []object.RecordMsg
	var firstErr error
	answered := 0
	for i := 0; i < asked && !qc.readMet(); i++ {
		res := <-results
		if res.err != nil {
			if firstErr == nil {
				firstErr = res.err
			}
			continue
		}
		answered++
		qc.ok(res.node)
		all = append(all, res.msgs...)
	}
	if !qc.readMet() {
		return nil, s3err.ServiceUnavailable.With("Only %d replicas answered, %d needed (%v).", answered, qc.needCur, firstErr)
	}
	return all, nil
}

// CreateMultipartUpload starts an upload on the key's replicas.
func (s *Store) CreateMultipartUpload(ctx context.Context, bucket, key string, opts object.PutOptions) (string, error) {
	if err := s.layoutReady(ctx); err != nil {
		return "", err
	}
	m, id, err := s.local.PrepareCreateUpload(ctx, bucket, key, opts)
	if err != nil {
		return "", err
	}
	if err := s.writeLocal(m, nil); err != nil {
		return "", err
	}
	return id, nil
}

// UploadPart stores a part here and commits it, with its data, on the key's replicas.
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, size int64, checksum func() object.Checksum) (object.PartInfo, error) {
	if n < 1 || n > object.MaxPartNumber {
		return object.PartInfo{}, object.ErrInvalidArgument.With("Part number must be an integer between 1 and %d, inclusive", object.MaxPartNumber)
	}
	u, err := s.readUpload(ctx, bucket, key, uploadID)
	if err != nil {
		return object.PartInfo{}, err
	}
	if err := u.Check(); err != nil {
		return object.PartInfo{}, err
	}
	p, info, err := s.local.PrepareUploadPart(ctx, bucket, key, uploadID, n, r, size, checksum)
	if err != nil {
		return object.PartInfo{}, err
	}
	if err := s.writeLocal(p.Msg, p.Release); err != nil {
		return object.PartInfo{}, err
	}
	return info, nil
}

// UploadPartCopy stores a part from a range of a replicated version.
func (s *Store) UploadPartCopy(ctx context.Context, bucket, key, uploadID string, n int, srcBucket, srcKey, srcVersion string, offset, length int64, check func(object.ObjectInfo) error) (object.PartInfo, error) {
	m, info, _, err := s.resolve(ctx, srcBucket, srcKey, srcVersion)
	if err != nil {
		return object.PartInfo{}, err
	}
	if check != nil {
		if err := check(info); err != nil {
			return object.PartInfo{}, err
		}
	}
	if length >= 0 && (offset < 0 || offset+length > info.Size) {
		return object.PartInfo{}, object.ErrInvalidRange
	}
	if length < 0 {
		offset, length = 0, info.Size
	}
	var rd io.ReadCloser = io.NopCloser(eofReader{})
	if length > 0 {
		if rd, err = s.local.OpenMsg(*m, offset, length, s.readChunk); err != nil {
			return object.PartInfo{}, err
		}
	}
	defer rd.Close()
	return s.UploadPart(ctx, bucket, key, uploadID, n, rd, length, nil)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// CompleteMultipartUpload assembles the upload from its replicas' state, commits the object on
// the key's replicas (which hold the parts' data already), then ends the upload there.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []object.CompletePart) (object.ObjectInfo, error) {
	u, err := s.readUpload(ctx, bucket, key, uploadID)
	if err != nil {
		return object.ObjectInfo{}, err
	}
	p, done, err := s.local.PrepareComplete(u, parts)
	if err != nil {
		return object.ObjectInfo{}, err
	}
	if err := s.write(p.Msg, p.Release); err != nil {
		return object.ObjectInfo{}, err
	}
	if err := s.writeLocal(done, nil); err != nil {
		// The object is committed; replicas that missed the end keep the upload listed until
		// the retries (hints, anti-entropy) reach them.
		s.log.Warn("complete: end the upload on its replicas", "upload", uploadID, "err", err)
	}
	return p.Info, nil
}

// AbortMultipartUpload ends an upload on the key's replicas; they drop its parts.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	u, err := s.readUpload(ctx, bucket, key, uploadID)
	if err != nil {
		return err
	}
	if err := u.Check(); err != nil {
		return err
	}
	done, err := u.DoneMsg()
	if err != nil {
		return err
	}
	return s.writeLocal(done, nil)
}

// ListParts lists an upload's parts as a read quorum of its replicas holds them.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, marker, max int) (object.PartListResult, error) {
	u, err := s.readUpload(ctx, bucket, key, uploadID)
	if err != nil {
		return object.PartListResult{}, err
	}
	return u.ListParts(marker, max)
}
