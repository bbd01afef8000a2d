import datetime, hashlib, hmac, http.client, os, sys
method, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ak, sk, region = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], "us-east-1"
now = datetime.datetime.now(datetime.timezone.utc)
amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
host = "127.0.0.1:%d" % port
ph = hashlib.sha256(b"").hexdigest()
canonical = "\n".join([method, path, "", "host:" + host, "x-amz-content-sha256:" + ph,
                       "x-amz-date:" + amz, "", "host;x-amz-content-sha256;x-amz-date", ph])
scope = "%s/%s/s3/aws4_request" % (day, region)
to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
key = ("AWS4" + sk).encode()
for part in (day, region, "s3", "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
auth = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=%s"
        % (ak, scope, sig))
try:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers={"x-amz-content-sha256": ph, "x-amz-date": amz, "authorization": auth})
    r = c.getresponse()
    body = r.read()
    print(r.status)
    if r.status >= 300:
        sys.stderr.write(body.decode(errors="replace")[:500] + "\n")
except OSError as e:
    print(0)
    sys.stderr.write("%s\n" % e)
