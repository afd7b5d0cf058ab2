-- The body of the Argo CD health checks of the lota.dev kinds; not a script on its own. render-cm-patch.ts puts
-- before it the kind's comment and a `kind` table with what differs (noun, success message, the status field naming
-- the result, the running phases).
local hs = { status = "Progressing", message = "Waiting for the LoTA operator to report status" }

local function condition(status, type)
  if status.conditions == nil then return nil end
  for _, c in ipairs(status.conditions) do
    if c.type == type then return c end
  end
  return nil
end

local function progressText(status)
  local p = status.progress
  if p == nil then return "" end
  local parts = {}
  if p.step ~= nil and p.totalSteps ~= nil then table.insert(parts, "step " .. p.step .. "/" .. p.totalSteps) end
  if p.percent ~= nil then table.insert(parts, string.format("%.0f%%", p.percent)) end
  if p.loss ~= nil then table.insert(parts, string.format("loss %.4g", p.loss)) end
  if p.etaSeconds ~= nil then table.insert(parts, string.format("eta %ds", math.floor(p.etaSeconds))) end
  if #parts == 0 then return "" end
  return " (" .. table.concat(parts, ", ") .. ")"
end

local s = obj.status
if s == nil then return hs end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (s.observedGeneration == nil or s.observedGeneration < generation) then
  hs.message = "Waiting for the LoTA operator to observe generation " .. generation
  return hs
end

local failed = condition(s, "Failed")
local stalled = condition(s, "Stalled")
local phase = s.phase
if phase == "Failed" or (failed ~= nil and failed.status == "True") or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  local c = failed or stalled
  local reason = (c ~= nil and c.status == "True" and c.reason) or "Failed"
  hs.message = reason .. ": " .. (s.message or (c and c.message) or "the " .. kind.noun .. " failed")
  return hs
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = s.message or kind.succeeded
  local artifact = s[kind.artifact]
  if artifact ~= nil and artifact.uri ~= nil then hs.message = hs.message .. "; " .. kind.artifact .. " " .. artifact.uri end
  return hs
end

if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = s.message or "Suspended by spec.suspend"
  return hs
end

if phase == nil or kind.running[phase] then
  hs.message = (phase or "Pending") .. progressText(s)
  if s.message ~= nil and s.message ~= "" then hs.message = hs.message .. ": " .. s.message end
  return hs
end

hs.status = "Unknown"
hs.message = "Unrecognised phase " .. tostring(phase)
return hs
