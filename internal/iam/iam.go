// Package iam holds access keys and their per-bucket grants, and answers whether a key may do an
// action on a bucket. It stores nothing itself beyond its table; it does no request parsing.
package iam

// Action is what a request does to a bucket, coarse enough for grants a person can read.
type Action int

const (
	// ActionRead: GET/HEAD of objects and their tags and versions.
	ActionRead Action = iota
	// ActionList: listing keys, versions and uploads, HeadBucket, GetBucketLocation.
	ActionList
	// ActionWrite: PUT, DELETE, multipart, tagging of objects.
	ActionWrite
	// ActionAdmin: creating and deleting buckets and changing their configuration.
	ActionAdmin
)

func (a Action) String() string {
	switch a {
	case ActionRead:
		return "read"
	case ActionList:
		return "list"
	case ActionWrite:
		return "write"
	case ActionAdmin:
		return "admin"
	}
	return "unknown"
}
