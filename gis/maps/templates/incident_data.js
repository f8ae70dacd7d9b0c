{% macro script(this, kwargs) %}
    var {{ this.get_name() }} = (function () {
        var P = {{ this.payload }};
        var n = P.n, DIGITS = "{{ this.digits }}", V = new Uint8Array(128);
        for (var c = 0; c < 64; c++) { V[DIGITS.charCodeAt(c)] = c; }
        ["x", "y", "a", "i", "r", "k", "d", "e"].forEach(function (key) {
            var col = P[key];
            if (!col) { return; }
            var lo = col[0], width = col[1], text = col[2], out = new Float64Array(n), p = 0, v, j;
            for (var i = 0; i < n; i++) {
                for (v = 0, j = 0; j < width; j++) { v = v * 64 + V[text.charCodeAt(p++)]; }
                out[i] = lo + v;
            }
            P[key] = out;
        });
        var lat = new Float64Array(n), lon = new Float64Array(n), id = new Float64Array(n);
        var t = new Uint16Array(n), s = new Uint16Array(n);
        var sd = new Uint16Array(n), w = new Uint16Array(n);
        var nt = P.radix[0], ns = P.radix[1], nsd = P.radix[2], acc = P.i0, a;
        for (var i = 0; i < n; i++) {
            lat[i] = (P.y0 + P.y[i]) / P.q;
            lon[i] = (P.x0 + P.x[i]) / P.q;
            acc += P.i[i];
            id[i] = acc;
            a = P.a[i];
            t[i] = a % nt; a = (a - t[i]) / nt;
            s[i] = a % ns; a = (a - s[i]) / ns;
            sd[i] = a % nsd; w[i] = (a - sd[i]) / nsd;
        }
        P.lat = lat; P.lon = lon; P.id = id; P.t = t; P.s = s; P.sd = sd; P.w = w;
        delete P.x; delete P.y; delete P.a; delete P.i;
        P.color = function (i) {
            return P.colorBy === "s" ? P.statusColors[P.s[i]] : P.typeColors[P.t[i]];
        };
        P.stake = function (i) {
            var k = Math.abs(P.k[i]), m = k % 1000;
            return (P.k[i] < 0 ? "-" : "") + "K" + Math.floor(k / 1000) + "+" + ("00" + m).slice(-3);
        };
        P.date = function (i) {
            return new Date((P.d0 + P.d[i]) * 864e5).toISOString().slice(0, 10);
        };
        P.popup = function (i) {
            var lb = P.labels;
            var row = function (k, v) {
                return "<tr><th style='text-align:left;padding:1px 8px 1px 0;color:#555;"
                    + "font-weight:500;white-space:nowrap;vertical-align:top'>" + lb[k]
                    + "</th><td>" + v + "</td></tr>";
            };
            var h = "<div class='incident-popup' style='font:13px/1.45 sans-serif;min-width:200px'>"
                + "<div style='font-weight:600;margin-bottom:3px'><span style='color:"
                + P.typeColors[P.t[i]] + "'>&#9679;</span> " + P.types[P.t[i]]
                + " <span style='color:#888;font-weight:400'>#"
                + P.id[i] + "</span></div><table>"
                + row("found", P.date(i)) + row("road", P.roads[P.r[i]])
                + row("stake", P.stake(i) + " " + P.sides[P.sd[i]])
                + row("status", "<span style='color:" + P.statusColors[P.s[i]] + "'>&#9679;</span> "
                      + P.statuses[P.s[i]])
                + row("town", P.towns[P.w[i]]);
            if (P.e && P.descs[P.e[i]]) { h += row("description", P.descs[P.e[i]]); }
            h += "</table>";
            var thumb = P.thumbs[P.id[i]];
            if (thumb) {
                h += "<img alt='' src='" + thumb + "' style='display:block;max-width:220px;"
                    + "max-height:160px;"
                    + "margin-top:4px;border-radius:3px'>";
            }
            return h + "</div>";
        };
        return P;
    })();
{% endmacro %}
