/* mmerbench site: the sample viewer. Data files call mmerbenchSamples.index(...) and .chunk(...);
   chunks are loaded as <script> elements on demand, which works from disk (file://) as well as from a server. */
"use strict";

var mmerbenchSamples = (function () {
  var info = null, chunks = {}, waiting = {};

  function bytes(text) {
    var raw = atob(text), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;  // textContent: strings from the store stay text
    if (className) node.className = className;
    return node;
  }

  function load(index, then) {
    if (chunks[index]) return then(chunks[index]);
    (waiting[index] = waiting[index] || []).push(then);
    if (waiting[index].length > 1) return;
    var script = document.createElement("script");
    script.src = "samples/chunk-" + index + ".js";
    script.onerror = function () { show(element("p", "Could not load " + script.src + ".", "error")); };
    document.body.appendChild(script);
  }

  function show(node) {
    var view = document.getElementById("sample-view");
    view.replaceChildren(node);
  }

  function render(id) {
    if (!(id >= 0 && id < info.n)) {
      show(element("p", "No sample " + id + ": the test split has samples 0 to " + (info.n - 1) + ".", "error"));
      return;
    }
    load(Math.floor(id / info.chunk), function (chunk) {
      var q = info.labels.length, rows = info.rows.length, at = id - chunk.start;
      var truth = chunk.labels.subarray(at * q, (at + 1) * q);
      var present = info.labels.filter(function (_, j) { return truth[j]; });
      var box = element("div");
      var heading = element("h2", "Sample " + id);
      heading.id = "sample-heading";
      box.appendChild(heading);
      var labelsLine = element("p");
      labelsLine.appendChild(element("strong", "True labels: "));
      var labelsText = element("span", present.length ? present.join(", ") : "none");
      labelsText.id = "true-labels";
      labelsLine.appendChild(labelsText);
      box.appendChild(labelsLine);
      var table = element("table", undefined, "data sample-table");
      var head = table.createTHead().insertRow();
      head.appendChild(element("th", "row"));
      info.labels.forEach(function (name, j) {
        head.appendChild(element("th", name + (truth[j] ? " ✓" : ""), truth[j] ? "present" : ""));
      });
      var body = table.createTBody();
      for (var r = 0; r < rows; r++) {
        var tr = body.insertRow(), row = info.rows[r], seeds = row.seeds.length;
        var name = element("th");
        var link = element("a", row.label);
        link.href = "rows/" + row.page;
        name.appendChild(link);
        tr.appendChild(name);
        for (var j = 0; j < q; j++) {
          var offset = (at * rows + r) * q + j, votes = chunk.votes[offset];
          var predicted = votes * 2 > seeds, wrong = predicted !== Boolean(truth[j]);
          var cell = element("td", chunk.percent[offset] + "%" + (votes ? " · " + votes + "/" + seeds : ""),
                             (predicted ? "predicted" : "") + (wrong ? " wrong" : ""));
          cell.title = votes + " of " + seeds + " seed(s) predicted " + info.labels[j] + " present";
          tr.appendChild(cell);
        }
      }
      box.appendChild(table);
      box.appendChild(element("p", "Cell: mean probability · seeds that predicted the label present (shown when " +
                                   "any did). Shaded: a majority of the row's seeds predicted it; red: that " +
                                   "majority disagrees with the truth.", "muted"));
      show(box);
    });
  }

  function start() {
    var select = document.getElementById("disputed"), input = document.getElementById("sample-id");
    var blank = element("option", "choose…");
    blank.value = "";
    select.appendChild(blank);
    info.top.forEach(function (pair) {
      var option = element("option", "sample " + pair[0] + " (disagreement " + pair[1].toFixed(2) + ")");
      option.value = pair[0];
      select.appendChild(option);
    });
    select.addEventListener("change", function () {
      if (select.value !== "") { input.value = select.value; render(Number(select.value)); }
    });
    document.getElementById("sample-form").addEventListener("submit", function (event) {
      event.preventDefault();
      select.value = select.querySelector('option[value="' + Number(input.value) + '"]') ? String(Number(input.value)) : "";
      render(Number(input.value));
    });
    var fromHash = parseInt((location.hash || "").replace("#", ""), 10);
    var first = isNaN(fromHash) ? (info.top.length ? info.top[0][0] : 0) : fromHash;
    input.value = first;
    if (select.querySelector('option[value="' + first + '"]')) select.value = String(first);
    render(first);
  }

  return {
    index: function (data) { info = data; start(); },
    chunk: function (data) {
      var index = Math.floor(data.start / info.chunk);
      chunks[index] = {start: data.start, labels: bytes(data.labels), percent: bytes(data.percent),
                       votes: bytes(data.votes)};
      (waiting[index] || []).forEach(function (then) { then(chunks[index]); });
      waiting[index] = [];
    }
  };
})();
