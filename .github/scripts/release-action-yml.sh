#!/bin/sh
# release-action-yml.sh TAG IMAGE [FILE]
#
# Points action.yml at the released image: main's action.yml builds the image
# from the Dockerfile (`image: Dockerfile`, for development); the release
# commit that the tags vX.Y.Z and vX point at names the image the release
# pushed (`image: docker://IMAGE:TAG`), so `uses: tagsweep/tagsweep@v1` pulls
# and never builds. Run by .github/workflows/release.yml; tested by
# tools/shipcheck (TestReleaseActionYml). Idempotent: a file that already
# names IMAGE:TAG is left as it is (a rerun of the release).
set -eu
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 TAG IMAGE [FILE]" >&2
  exit 2
fi
tag=$1
image=$2
file=${3:-action.yml}
if ! printf '%s\n' "$tag" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'; then
  echo "$0: $tag is not a release tag vX.Y.Z[-pre]" >&2
  exit 2
fi
if ! printf '%s\n' "$image" | grep -Eq '^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+$'; then
  echo "$0: $image is not an image name without tag" >&2
  exit 2
fi
want="  image: docker://$image:$tag"
if grep -qxF "$want" "$file"; then
  echo "$file already runs $image:$tag"
  exit 0
fi
n=$(grep -cxF '  image: Dockerfile' "$file" || true)
if [ "$n" != 1 ]; then
  echo "$0: $file: want exactly one line '  image: Dockerfile' (under runs:), found $n" >&2
  exit 1
fi
sed "s|^  image: Dockerfile\$|$want|" "$file" > "$file.tmp"
mv "$file.tmp" "$file"
echo "$file now runs $image:$tag"
