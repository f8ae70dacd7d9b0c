{% macro script(this, kwargs) %}
    var {{ this.get_name() }} = L.layerGroup();
    (function (group) {
        var ctl = L.control({position: {{ this.position|tojson }}});
        ctl.onAdd = function () {
            var div = L.DomUtil.create("div", "patrol-legend");
            div.style.cssText = "background:rgba(255,255,255,.92);padding:4px 8px;border-radius:6px;"
                + "box-shadow:0 1px 4px rgba(0,0,0,.3);font:11px/1.45 sans-serif;max-width:220px;"
                + "cursor:pointer;";
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            L.DomEvent.on(div, "click", function () {  // a tap folds the legend to its title
                var body = div.querySelector(".legend-body");
                if (body) { body.style.display = body.style.display === "none" ? "" : "none"; }
            });
            return div;
        };
        group.on("add", function () { ctl.addTo(group._map); });
        group.on("remove", function () { ctl.remove(); });
    })({{ this.get_name() }});
{% endmacro %}
