// Zone editor: click corners on the snapshot, fill the rule form (generated from the config model's JSON
// schema), save through POST /api/config/cameras/{id}/zones (the server validates with the same model).
(function () {
  "use strict";
  var root = document.getElementById("zone-editor");
  if (!root) { return; }
  var camera = root.dataset.camera;
  var img = document.getElementById("snapshot");
  var svg = document.getElementById("overlay");
  var zones = JSON.parse(document.getElementById("zone-data").textContent);
  var points = [];
  var schema = null;
  var SVGNS = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) { e.textContent = text; }
    return e;
  }
  function pts(list) { return list.map(function (p) { return p[0] + "," + p[1]; }).join(" "); }

  function draw() {
    if (!img.naturalWidth) { return; }
    svg.setAttribute("viewBox", "0 0 " + img.naturalWidth + " " + img.naturalHeight);
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    zones.forEach(function (z) {
      if (!z.polygon) { return; }
      svg.appendChild(el("polygon", { "class": "zone", "data-zone": z.zone_id, points: pts(z.polygon) }));
      svg.appendChild(el("text", { x: z.polygon[0][0] + 4, y: z.polygon[0][1] + 24 }, z.zone_id));
    });
    if (points.length) {
      svg.appendChild(el("polygon", { "class": "drawing", points: pts(points) }));
      points.forEach(function (p) { svg.appendChild(el("circle", { "class": "corner", cx: p[0], cy: p[1], r: 6 })); });
    }
    document.getElementById("point-count").textContent = points.length + (points.length === 1 ? " corner" : " corners");
  }

  img.addEventListener("load", draw);
  if (img.complete) { draw(); }
  img.addEventListener("click", function (e) {
    var r = img.getBoundingClientRect();
    points.push([Math.round((e.clientX - r.left) * img.naturalWidth / r.width),
                 Math.round((e.clientY - r.top) * img.naturalHeight / r.height)]);
    draw();
  });
  document.getElementById("undo").addEventListener("click", function () { points.pop(); draw(); });
  document.getElementById("clear").addEventListener("click", function () { points = []; draw(); });

  // ---------------------------------------------------------------- rule form from the JSON schema
  function ruleDefs() {
    return Object.keys(schema.$defs || {}).map(function (k) { return schema.$defs[k]; })
      .filter(function (d) { return d.properties && d.properties.type && d.properties.type.const; });
  }
  function field(name, prop) {
    var label = document.createElement("label");
    label.textContent = name + (prop.description ? " — " + prop.description : "");
    var input;
    var enumValues = prop.enum || (prop.items && prop.items.enum);
    if (enumValues) {
      input = document.createElement("select");
      if (prop.type === "array") { input.multiple = true; }
      enumValues.forEach(function (v) {
        var o = document.createElement("option");
        o.value = v; o.textContent = v;
        o.selected = Array.isArray(prop.default) ? prop.default.indexOf(v) >= 0 : prop.default === v;
        input.appendChild(o);
      });
    } else {
      input = document.createElement("input");
      input.type = (prop.type === "number" || prop.type === "integer") ? "number" : "text";
      if (prop.minimum !== undefined) { input.min = prop.minimum; }
      if (prop.exclusiveMinimum !== undefined) { input.min = prop.exclusiveMinimum; }
      if (prop.maximum !== undefined) { input.max = prop.maximum; }
      input.step = prop.type === "integer" ? "1" : "any";
      if (prop.default !== undefined) { input.value = prop.default; }
    }
    input.name = name;
    input.dataset.kind = prop.type || "string";
    label.appendChild(input);
    return label;
  }
  function addRule(type) {
    var def = ruleDefs().filter(function (d) { return d.properties.type.const === type; })[0];
    var fs = document.createElement("fieldset");
    fs.dataset.type = type;
    var legend = document.createElement("legend");
    legend.textContent = type + " ";
    var remove = document.createElement("button");
    remove.type = "button"; remove.textContent = "remove";
    remove.addEventListener("click", function () { fs.remove(); });
    legend.appendChild(remove);
    fs.appendChild(legend);
    Object.keys(def.properties).forEach(function (name) {
      if (name !== "type") { fs.appendChild(field(name, def.properties[name])); }
    });
    document.getElementById("rules").appendChild(fs);
  }
  function readRules() {
    return Array.prototype.map.call(document.querySelectorAll("#rules fieldset"), function (fs) {
      var rule = { type: fs.dataset.type };
      fs.querySelectorAll("input, select").forEach(function (i) {
        if (i.multiple) { rule[i.name] = Array.prototype.map.call(i.selectedOptions, function (o) { return o.value; }); }
        else if (i.dataset.kind === "number" || i.dataset.kind === "integer") { if (i.value !== "") { rule[i.name] = Number(i.value); } }
        else { rule[i.name] = i.value; }
      });
      return rule;
    });
  }
  fetch("/api/config/rule-schema").then(function (r) { return r.json(); }).then(function (s) {
    schema = s;
    var select = document.getElementById("rule-type");
    ruleDefs().forEach(function (d) {
      var o = document.createElement("option");
      o.value = o.textContent = d.properties.type.const;
      select.appendChild(o);
    });
    root.dataset.ready = "yes";
  });
  document.getElementById("add-rule").addEventListener("click", function () {
    addRule(document.getElementById("rule-type").value);
  });

  // ---------------------------------------------------------------- save
  var save = document.getElementById("save");
  if (!save) { return; }
  function showError(msg) {
    var e = document.getElementById("save-error");
    e.textContent = msg; e.hidden = false;
    document.getElementById("save-result").hidden = true;
  }
  save.addEventListener("click", function () {
    var body = { zone_id: document.getElementById("zone-id").value.trim(),
                 name: document.getElementById("zone-name").value.trim(), polygon: points, rules: readRules() };
    fetch("/api/config/cameras/" + encodeURIComponent(camera) + "/zones", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, body: j }; });
    }).then(function (res) {
      if (!res.ok) {
        var d = res.body.detail;
        showError(Array.isArray(d) ? d.map(function (x) { return x.loc.slice(1).join(".") + ": " + x.msg; }).join("; ") : String(d));
        return;
      }
      document.getElementById("save-error").hidden = true;
      document.getElementById("save-summary").textContent = "Saved: " + res.body.summary + ". Backup: " +
        res.body.backup_path + ". Note: " + res.body.note + ".";
      document.getElementById("save-diff").textContent = res.body.diff;
      document.getElementById("save-result").hidden = false;
      zones = zones.filter(function (z) { return z.zone_id !== body.zone_id; })
        .concat([{ zone_id: body.zone_id, polygon: points.slice() }]);
      points = [];
      draw();
    }).catch(function (err) { showError("save failed: " + err); });
  });
})();
