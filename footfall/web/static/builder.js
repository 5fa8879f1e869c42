// The segment builder: edits the definition (docs/segments.md) as a form and keeps the JSON textarea,
// which is what the form posts, in step. Every change asks the server for the live member count
// (debounced), computed by the segment evaluator; its refusals are shown beside the condition they name.
"use strict";

(function () {
  var vocab, state, textarea, root, countEl, stateEl, errorsEl, seq = 0, timer = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "onchange") { node.addEventListener("change", attrs[k]); node.addEventListener("input", attrs[k]); }
      else if (k === "onclick") node.addEventListener("click", attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  var uid = 0;
  function labelled(text, control) {
    var id = "b" + (++uid);
    control.id = id;
    return el("span", { class: "field" }, [el("label", { for: id, text: text }), control]);
  }

  function select(options, value, onchange) {
    var s = el("select", {});
    options.forEach(function (o) {
      var opt = el("option", { value: typeof o === "string" ? o : o.value, text: typeof o === "string" ? o : o.label });
      if ((typeof o === "string" ? o : o.value) === value) opt.selected = true;
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onchange(s.value); });
    return s;
  }

  function input(type, value, onchange, attrs) {
    var i = el("input", Object.assign({ type: type }, attrs || {}));
    i.value = value === undefined || value === null ? "" : String(value);
    i.addEventListener("input", function () { onchange(i.value); });
    return i;
  }

  function list(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s !== ""; });
  }
  function numberOr(text) { var n = Number(text); return text.trim() !== "" && !isNaN(n) ? n : text; }
  function num(text) { return text.trim() === "" ? null : Number(text); }

  // -- filters ---------------------------------------------------------------------------------------
  function filterEditor(filter, types, changed) {
    var box = el("span", { class: "filter" });
    function render() {
      box.innerHTML = "";
      if (types.indexOf(filter.type) < 0) filter.type = types[0];
      var ops = vocab.operators[filter.type];
      if (ops.indexOf(filter.operator) < 0) filter.operator = ops[0];
      if (types.length > 1) {
        box.appendChild(labelled("Type", select(types, filter.type, function (v) {
          Object.keys(filter).forEach(function (k) { if (k !== "type") delete filter[k]; });
          filter.type = v; render(); changed();
        })));
      }
      box.appendChild(labelled("Operator", select(ops, filter.operator, function (v) { filter.operator = v; render(); changed(); })));
      var op = filter.operator, t = filter.type;
      ["value", "date", "start", "end", "quantity", "unit"].forEach(function (k) { if (!(k in filter)) return; });
      if (t === "existence") { delete filter.value; return; }
      if (t === "date") {
        delete filter.value;
        if (op === "before" || op === "after") {
          box.appendChild(labelled("Date", input("text", filter.date, function (v) { filter.date = v; changed(); }, { placeholder: "2024-05-01" })));
        } else if (op === "between-static" || op === "between") {
          box.appendChild(labelled("From", input("text", filter.start, function (v) { filter.start = v; changed(); }, { placeholder: "2024-05-01" })));
          box.appendChild(labelled("To", input("text", filter.end, function (v) { filter.end = v; changed(); }, { placeholder: "2024-05-31" })));
        } else {
          if (filter.quantity === undefined) filter.quantity = 30;
          if (!filter.unit) filter.unit = "day";
          box.appendChild(labelled("Quantity", input("number", filter.quantity, function (v) { filter.quantity = num(v); changed(); }, { min: "0", step: "any" })));
          box.appendChild(labelled("Unit", select(vocab.units, filter.unit, function (v) { filter.unit = v; changed(); })));
        }
        return;
      }
      if (t === "boolean") {
        if (typeof filter.value !== "boolean") filter.value = true;
        box.appendChild(labelled("Value", select(["true", "false"], String(filter.value), function (v) { filter.value = v === "true"; changed(); })));
        return;
      }
      if (t === "numeric" || (t === "list" && op.indexOf("length-") === 0)) {
        box.appendChild(labelled("Value", input("number", filter.value, function (v) { filter.value = num(v); changed(); }, { step: "any" })));
        return;
      }
      var many = (t === "string" && (op === "in" || op === "not-in")) || (t === "list" && op !== "contains" && op !== "not-contains");
      if (many) {
        var shown = Array.isArray(filter.value) ? filter.value.join(", ") : (filter.value || "");
        box.appendChild(labelled("Values (comma-separated)", input("text", shown, function (v) {
          filter.value = t === "list" ? list(v).map(numberOr) : list(v); changed();
        })));
      } else {
        box.appendChild(labelled("Value", input("text", Array.isArray(filter.value) ? filter.value.join(",") : filter.value, function (v) {
          filter.value = t === "list" ? numberOr(v) : v; changed();
        })));
      }
    }
    render();
    return box;
  }

  // -- conditions ------------------------------------------------------------------------------------
  var TYPES = [
    { value: "profile-property", label: "Profile property" },
    { value: "profile-metric", label: "Did a metric" },
    { value: "profile-group-membership", label: "In a list or segment" },
    { value: "profile-marketing-consent", label: "Marketing consent" },
    { value: "profile-location", label: "Location" },
  ];

  function fresh(type) {
    if (type === "profile-property") return { type: type, property: "email", filter: { type: "existence", operator: "is-set" } };
    if (type === "profile-metric") return { type: type, metric_id: vocab.metrics.length ? vocab.metrics[0].id : "", measurement: "count",
      measurement_filter: { type: "numeric", operator: "greater-than-or-equal", value: 1 } };
    if (type === "profile-group-membership") return { type: type, is_member: true, group_ids: vocab.groups.length ? [vocab.groups[0].id] : [] };
    if (type === "profile-marketing-consent") return { type: type, consent: { channel: "email", can_receive_marketing: true } };
    return { type: "profile-location", field: "country", filter: { type: "string", operator: "equals", value: "" } };
  }

  function propertyTypes(prop) {
    if (["created", "updated"].indexOf(prop) >= 0) return ["date", "numeric", "existence"];
    if (vocab.attributes.indexOf(prop) >= 0) return ["string", "existence"];
    return ["string", "numeric", "boolean", "existence", "list", "date"];
  }

  function conditionEditor(cond, path, removeMe) {
    var box = el("div", { class: "condition", "data-path": path, role: "group", "aria-label": "Condition" });
    function changed() { sync(); }
    function render() {
      box.innerHTML = "";
      box.appendChild(labelled("Condition", select(TYPES, cond.type, function (v) {
        var next = fresh(v); Object.keys(cond).forEach(function (k) { delete cond[k]; }); Object.assign(cond, next); render(); sync();
      })));
      if (cond.type === "profile-property") {
        var custom = cond.property.indexOf("properties[") === 0;
        var choice = custom ? "custom" : cond.property;
        var options = vocab.attributes.map(function (a) { return { value: a, label: a }; })
          .concat(vocab.location_fields.map(function (f) { return { value: "location." + f, label: "location." + f }; }))
          .concat([{ value: "custom", label: "custom property…" }]);
        box.appendChild(labelled("Property", select(options, choice, function (v) {
          cond.property = v === "custom" ? "properties['']" : v; render(); sync();
        })));
        if (custom) {
          var m = /^properties\['(.*)'\]$/.exec(cond.property);
          box.appendChild(labelled("Name", input("text", m ? m[1] : "", function (v) { cond.property = "properties['" + v + "']"; sync(); })));
        }
        box.appendChild(filterEditor(cond.filter, propertyTypes(cond.property), changed));
      } else if (cond.type === "profile-metric") {
        var metrics = vocab.metrics.map(function (mm) { return { value: mm.id, label: mm.name }; });
        if (!metrics.length) metrics = [{ value: "", label: "(no metrics yet)" }];
        box.appendChild(labelled("Metric", select(metrics, cond.metric_id, function (v) { cond.metric_id = v; sync(); })));
        box.appendChild(labelled("Measure", select([{ value: "count", label: "count" }, { value: "sum", label: "sum of value" }],
          cond.measurement || "count", function (v) { cond.measurement = v; sync(); })));
        if (!cond.measurement_filter) cond.measurement_filter = { type: "numeric", operator: "greater-than-or-equal", value: 1 };
        box.appendChild(filterEditor(cond.measurement_filter, ["numeric"], changed));
        var tf = cond.timeframe_filter || { type: "date", operator: "alltime" };
        box.appendChild(labelled("When", select(vocab.timeframes, tf.operator === "between" ? "between-static" : tf.operator, function (v) {
          cond.timeframe_filter = v === "alltime" ? undefined : { type: "date", operator: v };
          if (v === "in-the-last") Object.assign(cond.timeframe_filter, { quantity: 30, unit: "day" });
          render(); sync();
        })));
        if (cond.timeframe_filter) {
          var t = cond.timeframe_filter;
          if (t.operator === "in-the-last") {
            box.appendChild(labelled("Quantity", input("number", t.quantity, function (v) { t.quantity = num(v); sync(); }, { min: "0", step: "any" })));
            box.appendChild(labelled("Unit", select(vocab.units, t.unit || "day", function (v) { t.unit = v; sync(); })));
          } else if (t.operator === "between-static" || t.operator === "between") {
            box.appendChild(labelled("From", input("text", t.start, function (v) { t.start = v; sync(); }, { placeholder: "2024-05-01" })));
            box.appendChild(labelled("To", input("text", t.end, function (v) { t.end = v; sync(); }, { placeholder: "2024-05-31" })));
          } else {
            box.appendChild(labelled("Date", input("text", t.date, function (v) { t.date = v; sync(); }, { placeholder: "2024-05-01" })));
          }
        }
        (cond.metric_filters || []).forEach(function (mf, i) {
          var row = el("span", { class: "metric-filter", "data-path": path + "/metric_filters/" + i });
          row.appendChild(labelled("Event property", input("text", mf.property, function (v) { mf.property = v; sync(); })));
          row.appendChild(filterEditor(mf.filter, ["string", "numeric", "boolean", "existence", "list", "date"], changed));
          row.appendChild(el("button", { type: "button", class: "secondary", text: "Remove filter", onclick: function () {
            cond.metric_filters.splice(i, 1); if (!cond.metric_filters.length) delete cond.metric_filters; render(); sync(); } }));
          box.appendChild(row);
        });
        box.appendChild(el("button", { type: "button", class: "secondary", text: "Add event filter", onclick: function () {
          cond.metric_filters = cond.metric_filters || [];
          cond.metric_filters.push({ property: "", filter: { type: "string", operator: "equals", value: "" } }); render(); sync(); } }));
      } else if (cond.type === "profile-group-membership") {
        box.appendChild(labelled("Is", select([{ value: "true", label: "in any of" }, { value: "false", label: "in none of" }],
          String(cond.is_member !== false), function (v) { cond.is_member = v === "true"; sync(); })));
        var multi = el("select", { multiple: "multiple", size: String(Math.min(Math.max(vocab.groups.length, 2), 6)) });
        vocab.groups.forEach(function (g) {
          var opt = el("option", { value: g.id, text: g.kind + ": " + g.name });
          if ((cond.group_ids || []).indexOf(g.id) >= 0) opt.selected = true;
          multi.appendChild(opt);
        });
        multi.addEventListener("change", function () {
          cond.group_ids = Array.prototype.filter.call(multi.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
          sync();
        });
        box.appendChild(labelled("Lists and segments", multi));
      } else if (cond.type === "profile-marketing-consent") {
        box.appendChild(labelled("Channel", select(vocab.channels, cond.consent.channel, function (v) { cond.consent.channel = v; sync(); })));
        box.appendChild(labelled("Can receive marketing", select(["true", "false"], String(cond.consent.can_receive_marketing !== false),
          function (v) { cond.consent.can_receive_marketing = v === "true"; sync(); })));
      } else if (cond.type === "profile-location") {
        box.appendChild(labelled("Field", select(["country", "region", "city", "zip"], cond.field, function (v) { cond.field = v; sync(); })));
        var f = cond.filter;
        if (["equals", "not-equals", "in", "not-in"].indexOf(f.operator) < 0) f.operator = "equals";
        box.appendChild(labelled("Operator", select(["equals", "not-equals", "in", "not-in"], f.operator, function (v) {
          f.operator = v; f.value = (v === "in" || v === "not-in") ? list(String(f.value || "")) : (Array.isArray(f.value) ? f.value.join(",") : f.value);
          render(); sync();
        })));
        var many = f.operator === "in" || f.operator === "not-in";
        box.appendChild(labelled(many ? "Values (comma-separated)" : "Value", input("text", Array.isArray(f.value) ? f.value.join(", ") : f.value,
          function (v) { f.value = many ? list(v) : v; sync(); })));
      }
      box.appendChild(el("button", { type: "button", class: "danger", text: "Remove condition", onclick: removeMe }));
    }
    render();
    return box;
  }

  function render() {
    root.innerHTML = "";
    state.condition_groups.forEach(function (group, gi) {
      if (gi > 0) root.appendChild(el("p", { class: "and", text: "and" }));
      var box = el("fieldset", { class: "group", "data-path": "condition_groups/" + gi });
      box.appendChild(el("legend", { text: "Group " + (gi + 1) + ": any of" }));
      group.conditions.forEach(function (cond, ci) {
        if (ci > 0) box.appendChild(el("p", { class: "or", text: "or" }));
        box.appendChild(conditionEditor(cond, "condition_groups/" + gi + "/conditions/" + ci, function () {
          group.conditions.splice(ci, 1);
          if (!group.conditions.length) state.condition_groups.splice(gi, 1);
          render(); sync();
        }));
      });
      box.appendChild(el("button", { type: "button", class: "secondary", text: "Add condition (or)", onclick: function () {
        group.conditions.push(fresh("profile-property")); render(); sync(); } }));
      root.appendChild(box);
    });
    root.appendChild(el("button", { type: "button", class: "secondary", id: "add-group", text: "Add group (and)", onclick: function () {
      state.condition_groups.push({ conditions: [fresh("profile-property")] }); render(); sync(); } }));
  }

  function clean(value) {  // drop undefined (a timeframe set back to "all time")
    return JSON.parse(JSON.stringify(value));
  }

  function sync() {
    textarea.value = JSON.stringify(clean(state), null, 2);
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    stateEl.textContent = "counting…";
    timer = setTimeout(count, 300);
  }

  function showErrors(errors) {
    root.querySelectorAll(".field-error").forEach(function (n) { n.remove(); });
    errorsEl.textContent = "";
    errors.forEach(function (e) {
      var target = null, path = e.path || "";
      root.querySelectorAll("[data-path]").forEach(function (node) {
        var p = node.getAttribute("data-path");
        if (path === p || path.indexOf(p + "/") === 0) {
          if (!target || p.length > target.getAttribute("data-path").length) target = node;
        }
      });
      var message = (path ? path + ": " : "") + e.detail;
      if (target) target.appendChild(el("p", { class: "error field-error", role: "alert", text: e.detail }));
      errorsEl.textContent = message;
    });
  }

  function count() {
    var mine = ++seq;
    var body;
    try { body = JSON.parse(textarea.value); } catch (err) { showErrors([{ path: "", detail: "the JSON is not valid: " + err.message }]); return; }
    fetch("/console/segments/count", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": window.footfallCsrf() },
      body: JSON.stringify({ definition: body, segment_id: document.getElementById("segment-id").value || null }),
    }).then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
      .then(function (res) {
        if (mine !== seq) return;
        if (res.ok) {
          countEl.textContent = res.data.count.toLocaleString("en");
          countEl.setAttribute("data-count", String(res.data.count));
          stateEl.textContent = "";
          showErrors([]);
        } else {
          countEl.textContent = "–";
          countEl.setAttribute("data-count", "");
          stateEl.textContent = "";
          showErrors(res.data.errors || [{ path: "", detail: res.data.error || "refused" }]);
        }
      }).catch(function () { if (mine === seq) stateEl.textContent = "could not count; retrying on the next change"; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    root = document.getElementById("builder");
    textarea = document.getElementById("definition");
    countEl = document.getElementById("live-count");
    stateEl = document.getElementById("live-count-state");
    errorsEl = document.getElementById("live-errors");
    vocab = JSON.parse(document.getElementById("builder-vocabulary").textContent);
    try { state = JSON.parse(textarea.value); } catch (err) { state = null; }
    if (!state || !Array.isArray(state.condition_groups)) state = { condition_groups: [{ conditions: [fresh("profile-property")] }] };
    state.condition_groups.forEach(function (g) { if (!Array.isArray(g.conditions)) g.conditions = []; });
    textarea.addEventListener("input", function () {
      try { state = JSON.parse(textarea.value); render(); } catch (err) { /* keep editing */ }
      schedule();
    });
    render();
    schedule();
  });
})();
