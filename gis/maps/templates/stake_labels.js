{% macro script(this, kwargs) %}
    var {{ this.get_name() }} = L.layerGroup();
    (function (group, data) {
        for (var i = 0; i < data.length; i++) {
            L.marker([data[i][1], data[i][0]], {interactive: false, keyboard: false,
                icon: L.divIcon({className: "stake-label", iconSize: null,
                    html: '<span style="font:10px/1 sans-serif;color:#333;background:rgba(255,255,255,.8);'
                        + 'padding:0 2px;border:1px solid #999;border-radius:2px">' + data[i][2] + '</span>'})
            }).addTo(group);
        }
    })({{ this.get_name() }}, {{ this.data|tojson }});
{% endmacro %}
