-- regbot script: in every repository of the registry, keep the `keep`
-- newest tags by image created time and delete the rest. It follows the
-- "delete old builds" example of regclient's docs/examples/regbot.yml
-- (tag.ls, image.config per tag, tag.delete); ties on created go to the
-- tag name, highest first, as in tagsweep's contract.
-- The benchmark prepends the two settings, e.g.:
--   reg = "127.0.0.1:5000"
--   keep = 10
for _, repoName in ipairs(repo.ls(reg)) do
  ref = reference.new(reg .. "/" .. repoName)
  entries = {}
  for _, t in ipairs(tag.ls(ref)) do
    ref:tag(t)
    ic = image.config(ref)
    table.insert(entries, {tag = t, created = ic.created})
  end
  table.sort(entries, function(a, b)
    if a.created ~= b.created then
      return a.created > b.created
    end
    return a.tag > b.tag
  end)
  for i = keep + 1, #entries do
    ref:tag(entries[i].tag)
    log("Deleting " .. repoName .. ":" .. entries[i].tag .. " created " .. entries[i].created)
    tag.delete(ref)
  end
end
