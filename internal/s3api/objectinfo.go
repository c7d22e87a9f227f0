package s3api

import (
	"net/http"
	"strings"

	"github.com/minicloud/minicloud/internal/s3err"
)

// Object subresources answered from a version's record alone: ACL, attributes, restore.

// getObjectAcl answers with the owner's FULL_CONTROL, the only ACL minicloud objects have.
func (h *handler) getObjectAcl(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	info, err := h.store.HeadObject(rq.ctx, rq.bucket, rq.key, versionID)
	if err != nil {
		return objectErr(rq, info, err, "head")
	}
	setVersionHeader(rq.w.Header(), info.VersionID)
	return writeXML(rq, http.StatusOK, ownerACL())
}

// putObjectAcl accepts only the private canned ACLs, which change nothing.
func (h *handler) putObjectAcl(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	if err := putACL(rq); err != nil {
		return err
	}
	info, err := h.store.HeadObject(rq.ctx, rq.bucket, rq.key, versionID)
	if err != nil {
		return objectErr(rq, info, err, "head")
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// getObjectAttributes answers GetObjectAttributes from the version's record.
func (h *handler) getObjectAttributes(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	var want []string
	for _, v := range rq.r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				want = append(want, a)
			}
		}
	}
	if len(want) == 0 {
		return s3err.InvalidArgument.With("The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	info, err := h.store.HeadObject(rq.ctx, rq.bucket, rq.key, versionID)
	if err != nil {
		return objectErr(rq, info, err, "head")
	}
	var res objectAttributesResponse
	for _, a := range want {
		switch a {
		case "ETag":
			res.ETag = info.ETag
		case "Checksum":
			if info.Checksum.Algorithm != "" {
				c := checksumXML(info.Checksum)
				res.Checksum = &c
			}
		case "ObjectParts":
			if info.PartCount > 0 {
				res.ObjectParts = &objectPartsInfo{TotalPartsCount: info.PartCount}
			}
		case "StorageClass":
			res.StorageClass = "STANDARD"
		case "ObjectSize":
			size := info.Size
			res.ObjectSize = &size
		default:
			return s3err.InvalidArgument.With("Invalid attribute name specified: %q", a)
		}
	}
	out := rq.w.Header()
	out.Set("Last-Modified", httpTime(info.LastModified))
	setVersionHeader(out, info.VersionID)
	return writeXML(rq, http.StatusOK, res)
}

// restoreObject: every minicloud object is in a readable class, so there is nothing to restore.
func (h *handler) restoreObject(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	info, err := h.store.HeadObject(rq.ctx, rq.bucket, rq.key, versionID)
	if err != nil {
		return objectErr(rq, info, err, "head")
	}
	return s3err.InvalidObjectState.With("Restore is not allowed for the object's current storage class")
}
