import type { ErrorCode } from '../../core/error-codes.ts';
import { asVdcError } from '../../core/errors.ts';
import { xmlDocument } from './s3-xml.ts';

/*
 * The edge where VdcErrors become S3 errors: each code has the S3 `Code` real clients
 * branch on and its HTTP status (AWS S3 API reference, "Error responses"). Anything not
 * listed is an InternalError 500 whose message does not leak internals.
 */

interface S3ErrorShape {
  readonly code: string;
  readonly status: number;
}

const S3_ERRORS: Partial<Record<ErrorCode, S3ErrorShape>> = {
  S3_ACCESS_DENIED: { code: 'AccessDenied', status: 403 },
  S3_AUTH_MALFORMED: { code: 'AuthorizationHeaderMalformed', status: 400 },
  S3_ACCESS_KEY_UNKNOWN: { code: 'InvalidAccessKeyId', status: 403 },
  S3_SIGNATURE_MISMATCH: { code: 'SignatureDoesNotMatch', status: 403 },
  S3_REQUEST_EXPIRED: { code: 'AccessDenied', status: 403 },
  S3_TIME_SKEWED: { code: 'RequestTimeTooSkewed', status: 403 },
  S3_CONTENT_SHA256_MISMATCH: { code: 'XAmzContentSHA256Mismatch', status: 400 },
  S3_BAD_DIGEST: { code: 'BadDigest', status: 400 },
  S3_NO_SUCH_BUCKET: { code: 'NoSuchBucket', status: 404 },
  S3_NO_SUCH_KEY: { code: 'NoSuchKey', status: 404 },
  ZSTOR_OBJECT_NOT_FOUND: { code: 'NoSuchKey', status: 404 },
  S3_NO_SUCH_UPLOAD: { code: 'NoSuchUpload', status: 404 },
  S3_BUCKET_EXISTS: { code: 'BucketAlreadyOwnedByYou', status: 409 },
  S3_BUCKET_NOT_EMPTY: { code: 'BucketNotEmpty', status: 409 },
  S3_INVALID_BUCKET_NAME: { code: 'InvalidBucketName', status: 400 },
  S3_KEY_TOO_LONG: { code: 'KeyTooLongError', status: 400 },
  S3_INVALID_RANGE: { code: 'InvalidRange', status: 416 },
  S3_ENTITY_TOO_LARGE: { code: 'EntityTooLarge', status: 400 },
  // an object (e.g. a completed multipart upload) whose manifest would be too large
  ZSTOR_OBJECT_TOO_LARGE: { code: 'EntityTooLarge', status: 400 },
  ZSTOR_METADATA_TOO_LARGE: { code: 'EntityTooLarge', status: 400 },
  S3_ENTITY_TOO_SMALL: { code: 'EntityTooSmall', status: 400 },
  S3_MALFORMED_XML: { code: 'MalformedXML', status: 400 },
  S3_INVALID_PART: { code: 'InvalidPart', status: 400 },
  S3_INVALID_PART_ORDER: { code: 'InvalidPartOrder', status: 400 },
  S3_INVALID_ARGUMENT: { code: 'InvalidArgument', status: 400 },
  S3_INCOMPLETE_BODY: { code: 'IncompleteBody', status: 400 },
  S3_MISSING_CONTENT_LENGTH: { code: 'MissingContentLength', status: 411 },
  S3_METHOD_NOT_ALLOWED: { code: 'MethodNotAllowed', status: 405 },
  S3_NOT_IMPLEMENTED: { code: 'NotImplemented', status: 501 },
  ZSTOR_BACKEND_UNAVAILABLE: { code: 'ServiceUnavailable', status: 503 },
  ZSTOR_SHARDS_MISSING: { code: 'ServiceUnavailable', status: 503 },
};

export interface S3ErrorResponse {
  readonly status: number;
  readonly code: string;
  readonly body: string;
}

/** The S3 error document for anything thrown while serving `resource`. */
export function s3ErrorResponse(
  err: unknown,
  resource: string,
  requestId: string,
): S3ErrorResponse {
  const e = asVdcError(err);
  const shape = S3_ERRORS[e.code];
  const code = shape?.code ?? 'InternalError';
  const status = shape?.status ?? 500;
  const message =
    shape === undefined
      ? `the server failed to serve this request (${e.code}); see its log for request ${requestId}`
      : e.message;
  return {
    status,
    code,
    body: xmlDocument('Error', {
      Code: code,
      Message: message,
      Resource: resource,
      RequestId: requestId,
    }).replace(' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', ''),
  };
}
