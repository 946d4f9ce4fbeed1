#!/bin/sh
# The retention script a user writes by hand around crane: in every
# repository, keep the KEEP newest tags by image created time and delete
# the rest (ls, config for the created time, sort, digest, delete).
# Ties on created go to the tag name, highest first (sort -r on
# "created tag" lines), as in tagsweep's contract.
#   crane-loop.sh REGISTRY [KEEP]
REG=$1
KEEP=${2:-10}
export LC_ALL=C
for repo in $(crane catalog "$REG"); do
  for tag in $(crane ls "$REG/$repo"); do
    created=$(crane config "$REG/$repo:$tag" | jq -r .created)
    echo "$created $tag"
  done | sort -r | tail -n +$((KEEP + 1)) | while read -r created tag; do
    digest=$(crane digest "$REG/$repo:$tag") || continue
    echo "deleting $repo:$tag ($created) $digest"
    crane delete "$REG/$repo@$digest"
  done
done
