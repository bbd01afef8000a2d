# s3ls.py PORT BUCKET PREFIX [REGEX]: the keys under PREFIX (ListObjectsV2,
# every page, SigV4-signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
# path style, plain HTTP on 127.0.0.1:PORT) whose last path component
# matches REGEX (default: everything), one a line.
import datetime, hashlib, hmac, http.client, os, re, sys, urllib.parse
import xml.etree.ElementTree as ET

port, bucket, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
pattern = re.compile(sys.argv[4] if len(sys.argv) > 4 else "")
ak, sk, region = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], "us-east-1"

def get(query):
    now = datetime.datetime.now(datetime.timezone.utc)
    amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = "127.0.0.1:%d" % port
    ph = hashlib.sha256(b"").hexdigest()
    qs = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                  for k, v in sorted(query.items()))
    path = "/" + bucket
    canonical = "\n".join(["GET", path, qs, "host:" + host, "x-amz-content-sha256:" + ph,
                           "x-amz-date:" + amz, "", "host;x-amz-content-sha256;x-amz-date", ph])
    scope = "%s/%s/s3/aws4_request" % (day, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + sk).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=%s"
            % (ak, scope, sig))
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path + "?" + qs, headers={"x-amz-content-sha256": ph, "x-amz-date": amz, "authorization": auth})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("ListObjectsV2 %s: HTTP %d %s" % (prefix, r.status, body[:300]))
    return ET.fromstring(body)

query = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
while True:
    root = get(query)
    ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    for c in root.findall(ns + "Contents"):
        k = c.find(ns + "Key").text
        if pattern.search(k.rsplit("/", 1)[-1]):
            print(k)
    token = root.find(ns + "NextContinuationToken")
    if root.findtext(ns + "IsTruncated") != "true" or token is None:
        break
    query["continuation-token"] = token.text
