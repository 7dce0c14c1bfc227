/* ClaimPulse: the part of the bootstrap-table API that GX's Data Docs index page uses, so the
 * page works offline: $(table).bootstrapTable({columns, data, search, filterControl, rowStyle,
 * rowAttributes, sortName, sortOrder, toolbar}), the methods 'clearFilterControl' and
 * 'resetSearch', and the 'click-row.bs.table' event. A search box over every column, a filter
 * per column (select / input / date), click-to-sort headers. Rows are GX's own HTML. */
(function ($) {
  "use strict";
  function fn(name) { return typeof name === "function" ? name : (name ? window[name] : null); }
  function text(html) { return $("<div>").html(html == null ? "" : String(html)).text().trim(); }
  function on(v) { return v === true || v === "true"; }

  function Table($table, opts) {
    this.$table = $table; this.opts = opts; this.columns = opts.columns || [];
    this.rows = (opts.data || []).slice(); this.sortName = opts.sortName; this.sortOrder = opts.sortOrder || "asc";
    this.build();
  }
  Table.prototype.filterValue = function (col, row) {
    var collect = fn(col.filterDataCollector);
    return collect ? text(collect(row[col.field], row, row[col.field])) : text(row[col.field]);
  };
  Table.prototype.build = function () {
    var self = this, $t = this.$table;
    $t.addClass("table table-hover cp-table").empty();
    var $bar = $('<div class="cp-table-bar form-inline my-2"></div>');
    if (on(this.opts.search)) {
      this.$search = $('<input type="search" class="form-control form-control-sm cp-search" placeholder="Search">')
        .on("input", function () { self.render(); });
      $bar.append(this.$search);
    }
    var $toolbar = this.opts.toolbar ? $(this.opts.toolbar) : $();
    $t.before($bar.append($toolbar));
    var $head = $("<tr></tr>"), $filters = $('<tr class="cp-filters"></tr>'), anyFilter = false;
    this.columns.forEach(function (col) {
      var $th = $("<th></th>").text(col.title || col.field).css("text-align", col.align || "");
      if (on(col.sortable)) {
        $th.addClass("cp-sortable").on("click", function () {
          var key = col.sortName || col.field;
          self.sortOrder = self.sortName === key && self.sortOrder === "asc" ? "desc" : "asc";
          self.sortName = key; self.render();
        });
      }
      $head.append($th);
      var $cell = $("<th></th>"), kind = on(self.opts.filterControl) ? col.filterControl : null;
      if (kind === "select") {
        var values = {}; self.rows.forEach(function (r) { values[self.filterValue(col, r)] = true; });
        var $sel = $('<select class="form-control form-control-sm cp-filter"><option value=""></option></select>');
        Object.keys(values).sort().forEach(function (v) { $sel.append($("<option>").val(v).text(v)); });
        col.$filter = $sel.on("change", function () { self.render(); }); $cell.append($sel); anyFilter = true;
      } else if (kind === "input" || kind === "datepicker") {
        col.$filter = $('<input class="form-control form-control-sm cp-filter">')
          .attr("type", kind === "datepicker" ? "date" : "text").on("input change", function () { self.render(); });
        $cell.append(col.$filter); anyFilter = true;
      }
      $filters.append($cell);
    });
    $t.append($("<thead></thead>").append($head).append(anyFilter ? $filters : null));
    this.$body = $("<tbody></tbody>"); $t.append(this.$body);
    this.render();
  };
  Table.prototype.matches = function (row) {
    var self = this, q = this.$search ? this.$search.val().toLowerCase() : "";
    if (q && !this.columns.some(function (c) { return text(row[c.field]).toLowerCase().indexOf(q) >= 0; })) return false;
    return this.columns.every(function (col) {
      if (!col.$filter) return true;
      var v = col.$filter.val(); if (!v) return true;
      var custom = fn(col.filterCustomSearch);
      if (custom) return !!custom(v, row[col.field], col.field, self.rows);
      var have = self.filterValue(col, row);
      return col.filterControl === "select" ? have === v : have.toLowerCase().indexOf(v.toLowerCase()) >= 0;
    });
  };
  Table.prototype.render = function () {
    var self = this, rows = this.rows.filter(function (r) { return self.matches(r); });
    if (this.sortName) {
      var k = this.sortName, sign = this.sortOrder === "desc" ? -1 : 1;
      rows.sort(function (a, b) { var x = text(a[k]), y = text(b[k]); return x < y ? -sign : x > y ? sign : 0; });
    }
    this.$body.empty();
    var style = fn(this.opts.rowStyle), attrs = fn(this.opts.rowAttributes);
    rows.forEach(function (row, i) {
      var $tr = $("<tr></tr>");
      if (style) { $tr.css((style(row, i) || {}).css || {}); }
      if (attrs) { $.each(attrs(row, i) || {}, function (name, value) { $tr.attr(name, value); }); }
      self.columns.forEach(function (col) {
        $tr.append($("<td></td>").html(row[col.field] == null ? "" : String(row[col.field])).css("text-align", col.align || ""));
      });
      $tr.on("click", function () { self.$table.trigger("click-row.bs.table", [row, $tr]); });
      self.$body.append($tr);
    });
    if (!rows.length) {
      this.$body.append($('<tr class="cp-empty"><td></td></tr>').find("td").attr("colspan", this.columns.length)
        .text("No matching records").end());
    }
  };
  Table.prototype.clearFilterControl = function () {
    this.columns.forEach(function (c) { if (c.$filter) c.$filter.val(""); }); this.render();
  };
  Table.prototype.resetSearch = function () { if (this.$search) this.$search.val(""); this.render(); };

  $.fn.bootstrapTable = function (arg) {
    return this.each(function () {
      var $t = $(this), table = $t.data("cp.table");
      if (typeof arg === "string") { if (table && table[arg]) table[arg](); return; }
      $t.data("cp.table", new Table($t, arg || {}));
    });
  };
})(jQuery);
