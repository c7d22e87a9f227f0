package replicate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/minicloud/minicloud/internal/object"
)

// Upstream cloud: each bucket may name S3 endpoints that receive a copy of every change. Changes
// go into a durable outbox per target (a hint addressed "cloud:BUCKET:ID") on the node that
// coordinated them, and a loop ships them in order when the endpoint answers. The endpoint may be
// down for days: nothing is lost, the outbox only grows, and it drains when the endpoint returns.
// Before shipping a change the current state of the key is checked, so that a change overtaken by
// a newer one (perhaps queued on another node) is not shipped after it: the cloud ends with the
// final acknowledged state.

const cloudPrefix = "cloud:"

func cloudTarget(bucket, id string) string { return cloudPrefix + bucket + ":" + id }

// queueForCloud puts msg in the outbox of each sync target of its bucket.
func (s *Store) queueForCloud(msg object.RecordMsg) {
	b, err := s.local.GetBucket(context.Background(), msg.Bucket)
	if err != nil {
		return
	}
	for _, t := range b.Sync {
		// A reference: shipToCloud reads the key's current state from the site whatever the
		// entry holds, so the record need not be stored again.
		if err := s.local.AddOutboxRef(cloudTarget(msg.Bucket, t.ID), msg, false); err != nil {
			s.log.Error("queue change for the cloud", "target", t.Endpoint, "err", err)
			continue
		}
		s.Stats.Outboxed.Add(1)
		s.notifyOutbox(cloudTarget(msg.Bucket, t.ID))
	}
}

type cloudClients struct {
	mu sync.Mutex
	m  map[string]*minio.Client
}

func (c *cloudClients) get(t object.SyncTarget) (*minio.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := t.Endpoint + "|" + t.AccessKey + "|" + t.SecretKey + "|" + t.Region
	if cl, ok := c.m[key]; ok {
		return cl, nil
	}
	u, err := url.Parse(t.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("sync target endpoint %q is not a URL", t.Endpoint)
	}
	cl, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(t.AccessKey, t.SecretKey, ""),
		Secure: u.Scheme == "https", Region: t.Region, MaxRetries: 1,
	})
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*minio.Client{}
	}
	c.m[key] = cl
	return cl, nil
}

// cloudDeliverer returns the function shipping one change to a cloud target, or false when the
// target no longer exists (its outbox is then dropped by the caller).
func (s *Store) cloudDeliverer(target string) (func(object.RecordMsg) error, bool) {
	rest := strings.TrimPrefix(target, cloudPrefix)
	bucket, id, _ := strings.Cut(rest, ":")
	b, err := s.local.GetBucket(context.Background(), bucket)
	if err != nil {
		return nil, false
	}
	var t *object.SyncTarget
	for i := range b.Sync {
		if b.Sync[i].ID == id {
			t = &b.Sync[i]
		}
	}
	if t == nil {
		return nil, false
	}
	return func(m object.RecordMsg) error { return s.shipToCloud(*t, m) }, true
}

func (s *Store) shipToCloud(t object.SyncTarget, m object.RecordMsg) error {
	cl, err := s.clouds.get(t)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Minute)
	defer cancel()
	// Ship the key's current state, not the queued change: a newer change wins either way.
	cur, info, _, rerr := s.resolve(ctx, m.Bucket, m.Key, "")
	key := t.Prefix + m.Key
	if rerr != nil {
		if info.DeleteMarker || isNotFound(rerr) {
			err := cl.RemoveObject(ctx, t.Bucket, key, minio.RemoveObjectOptions{})
			if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
				return fmt.Errorf("delete %s in the cloud: %w", key, err)
			}
			s.Stats.Shipped.Add(1)
			return nil
		}
		return rerr
	}
	if cur.Version != m.Version {
		return nil // overtaken: the newer change has its own outbox entry, which ships it
	}
	rd, err := s.local.OpenMsg(*cur, 0, -1, s.readChunk)
	if err != nil {
		return err
	}
	defer rd.Close()
	opts := minio.PutObjectOptions{
		ContentType: info.Meta.ContentType, ContentEncoding: info.Meta.ContentEncoding,
		ContentDisposition: info.Meta.ContentDisposition, ContentLanguage: info.Meta.ContentLanguage,
		CacheControl: info.Meta.CacheControl, UserMetadata: info.Meta.User,
	}
	if _, err := cl.PutObject(ctx, t.Bucket, key, rd, info.Size, opts); err != nil {
		return fmt.Errorf("put %s in the cloud: %w", key, err)
	}
	s.geo.ships.target(cloudTarget(m.Bucket, t.ID)).bytes.Add(info.Size)
	s.Stats.Shipped.Add(1)
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, object.ErrNoSuchKey) }

// AddSyncTarget makes bucket replicate to an S3 endpoint from now on, and queues the bucket's
// existing objects (as this node sees them) so the cloud starts complete.
func (s *Store) AddSyncTarget(ctx context.Context, bucket string, t object.SyncTarget) (object.SyncTarget, error) {
	if t.ID == "" {
		t.ID = fmt.Sprintf("%x", time.Now().UnixNano())
	}
	if _, err := s.clouds.get(t); err != nil {
		return t, err
	}
	err := s.local.UpdateBucket(ctx, bucket, func(b *object.Bucket) error {
		b.Sync = append(append([]object.SyncTarget(nil), b.Sync...), t)
		return nil
	})
	if err != nil {
		return t, err
	}
	marker := ""
	for {
		res, err := s.ListObjects(ctx, bucket, object.ListOptions{Marker: marker, MaxKeys: 1000})
		if err != nil {
			return t, err
		}
		for _, o := range res.Objects {
			msgs, _, err := s.read(ctx, bucket, o.Key)
			if err != nil {
				return t, err
			}
			if m, _, err := object.Resolve(bucket, o.Key, "", msgs); err == nil {
				if err := s.local.AddOutboxRef(cloudTarget(bucket, t.ID), *m, true); err != nil {
					return t, err
				}
				s.notifyOutbox(cloudTarget(bucket, t.ID))
			}
		}
		if !res.IsTruncated {
			return t, nil
		}
		marker = res.NextMarker
	}
}

var _ = bytes.MinRead
