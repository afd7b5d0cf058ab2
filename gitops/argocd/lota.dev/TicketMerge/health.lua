-- Argo CD health of a lota.dev TicketMerge (lottery tickets merged into a model or a ticket).
-- Succeeded -> Healthy; Failed (or a Stalled condition) -> Degraded; Suspended -> Suspended; Pending,
-- WaitingForTickets, Merging -> Progressing with the merge's live progress; a spec change the operator has not yet seen
-- (status.observedGeneration behind metadata.generation) -> Progressing.
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
  hs.message = reason .. ": " .. (s.message or (c and c.message) or "the merge failed")
  return hs
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = s.message or "Merge succeeded"
  if s.output ~= nil and s.output.uri ~= nil then hs.message = hs.message .. "; output " .. s.output.uri end
  return hs
end

if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = s.message or "Suspended by spec.suspend"
  return hs
end

if phase == "Pending" or phase == "WaitingForTickets" or phase == "Merging" or phase == nil then
  hs.message = (phase or "Pending") .. progressText(s)
  if s.message ~= nil and s.message ~= "" then hs.message = hs.message .. ": " .. s.message end
  return hs
end

hs.status = "Unknown"
hs.message = "Unrecognised phase " .. tostring(phase)
return hs
