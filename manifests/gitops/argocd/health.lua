-- Argo CD health check for impersonation-operator.io/ImpersonationPolicy.
-- Same rules as kstatus (what Flux uses), plus Ready for the healthy case:
--   no status yet, or status.observedGeneration behind metadata.generation -> Progressing
--   Reconciling=True                                                      -> Progressing
--   Stalled=True                                                          -> Degraded
--   Ready=True for the current generation, reason Suspended (spec.suspend) -> Suspended
--   Ready=True for the current generation                                 -> Healthy
--     (so NotYetValid and Expired are Healthy: "nothing granted" is the desired state then)
--   Ready=False with a Stalled reason (InvalidSpec, AuthorCheckFailed, AuthorNotPermitted,
--   AnyUserNotEnabled, ConstrainedImpersonationUnavailable, Collision, Denied, Refused,
--   NameConflict, DeletionBlocked, Unmanaged)                             -> Degraded
--   anything else                                                         -> Progressing
-- Argo CD runs scripts from argocd-cm without the string library: only base, table and os.
local hs = {}
local stalledReasons = {
  InvalidSpec = true, AuthorCheckFailed = true, AuthorNotPermitted = true, AnyUserNotEnabled = true,
  ConstrainedImpersonationUnavailable = true, Collision = true, Denied = true, Refused = true,
  NameConflict = true, DeletionBlocked = true, Unmanaged = true,
}

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile the policy"
  return hs
end

local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  if observed == nil then
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation) ..
      " (last observed " .. tostring(observed) .. ")"
  end
  return hs
end

local byType = {}
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type ~= nil then
      byType[condition.type] = condition
    end
  end
end

local function messageOf(condition, fallback)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return fallback
end

local reconciling = byType["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = messageOf(reconciling, "Reconciling")
  return hs
end

local stalled = byType["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = messageOf(stalled, "Stalled")
  return hs
end

local ready = byType["Ready"]
if ready ~= nil then
  local current = ready.observedGeneration == nil or generation == nil or ready.observedGeneration == generation
  if current and ready.status == "True" and ready.reason == "Suspended" then
    hs.status = "Suspended"
    hs.message = messageOf(ready, "Suspended")
    return hs
  end
  if current and ready.status == "True" then
    hs.status = "Healthy"
    hs.message = messageOf(ready, "Ready")
    return hs
  end
  if current and ready.status == "False" and ready.reason ~= nil and stalledReasons[ready.reason] then
    hs.status = "Degraded"
    hs.message = messageOf(ready, ready.reason)
    return hs
  end
  hs.status = "Progressing"
  hs.message = messageOf(ready, "Waiting for Ready")
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the operator to report the Ready condition"
return hs
