{% macro script(this, kwargs) %}
    (function () {
        var ctl = L.control({position: "topright"});
        ctl.onAdd = function () {
            var div = L.DomUtil.create("div", "patrol-title");
            div.style.cssText = "background:rgba(255,255,255,.92);padding:6px 10px;border-radius:6px;"
                + "box-shadow:0 1px 4px rgba(0,0,0,.3);font:14px/1.45 sans-serif;max-width:360px;";
            div.innerHTML = {{ this.html|tojson }};
            return div;
        };
        ctl.addTo({{ this._parent.get_name() }});
    })();
{% endmacro %}
