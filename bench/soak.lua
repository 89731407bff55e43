-- wrk script for bench/soak.py: rotates over a mix of requests and counts every status.
--
--   wrk -t1 -c32 -d60s --latency -s bench/soak.lua http://127.0.0.1:PORT -- MIX.tsv OFFSET
--
-- MIX.tsv (written by bench/soak.py from what the store holds) has one request a line:
-- KIND <tab> PATH [<tab> HEADER: VALUE]. Each wrk thread walks the list in order from
-- OFFSET (plus its own thread number), so two wrk processes do not send the same request
-- at the same moment. done() prints one line, "SOAK_JSON {...}", with wrk's summary, socket
-- errors, latency quantiles (in microseconds, from wrk's own histogram), how many requests
-- of each kind were sent and how many responses had each status. Statuses are counted here
-- rather than only through wrk's "Non-2xx or 3xx" line so that the report can say which
-- statuses they were; a response does not say which request it answers, so statuses are
-- not broken down by kind (the 304s should match the conditional reads sent).

local threads = {}
local counter = 0

function setup(thread)
   thread:set("number", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local function split(line)
   local fields = {}
   for field in string.gmatch(line, "[^\t]+") do
      table.insert(fields, field)
   end
   return fields
end

local function load_mix(path)
   local mix = {}
   local file = assert(io.open(path, "r"), "cannot open " .. path)
   for line in file:lines() do
      local fields = split(line)
      if #fields >= 2 then
         local headers = {}
         if fields[3] then
            local name, value = string.match(fields[3], "^([^:]+):%s*(.*)$")
            headers[name] = value
         end
         table.insert(mix, {kind = fields[1], raw = wrk.format("GET", fields[2], headers)})
      end
   end
   file:close()
   assert(#mix > 0, "no requests in " .. path)
   return mix
end

function init(args)
   mix = load_mix(args[1])
   position = ((tonumber(args[2]) or 0) + number) % #mix
   statuses = {}
   sent = {}
end

function request()
   position = position % #mix + 1
   local entry = mix[position]
   sent[entry.kind] = (sent[entry.kind] or 0) + 1
   return entry.raw
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

local function add_into(total, part)
   for key, value in pairs(part) do
      total[key] = (total[key] or 0) + value
   end
end

local encode

function encode(value)
   if type(value) == "table" and #value > 0 then
      local items = {}
      for _, item in ipairs(value) do
         table.insert(items, encode(item))
      end
      return "[" .. table.concat(items, ",") .. "]"
   end
   if type(value) == "table" then
      local items = {}
      for key, item in pairs(value) do
         table.insert(items, string.format("%q:%s", tostring(key), encode(item)))
      end
      return "{" .. table.concat(items, ",") .. "}"
   end
   if type(value) == "number" and (value ~= value or value == math.huge) then
      return "null" -- no requests: NaN or infinite latency figures
   end
   return tostring(value)
end

function done(summary, latency, requests)
   local statuses_total, sent_total = {}, {}
   for _, thread in ipairs(threads) do
      add_into(statuses_total, thread:get("statuses"))
      add_into(sent_total, thread:get("sent"))
   end
   -- 999 quantiles (0.1 % .. 99.9 %) so that soak.py can merge two wrk processes into one
   -- distribution for the total row.
   local quantiles = {}
   for i = 1, 999 do
      quantiles[i] = latency:percentile(i / 10)
   end
   local report = {
      duration_us = summary.duration,
      requests = summary.requests,
      bytes = summary.bytes,
      errors = summary.errors,
      latency = {min = latency.min, max = latency.max, mean = latency.mean},
      quantiles = quantiles,
      statuses = statuses_total,
      sent = sent_total,
   }
   io.write("SOAK_JSON ", encode(report), "\n")
end
