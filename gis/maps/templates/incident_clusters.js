{% macro script(this, kwargs) %}
    var {{ this.get_name() }} = (function () {
        var D = {{ this.incidents.get_name() }};
        var cluster = L.markerClusterGroup({{ this.options|tojavascript }});
        var markers = new Array(D.n);
        for (var i = 0; i < D.n; i++) {
            var m = L.circleMarker([D.lat[i], D.lon[i]], {radius: 7, weight: 1.5, color: "#ffffff",
                                                          fillColor: D.color(i), fillOpacity: 0.95});
            m.incidentIndex = i;
            markers[i] = m;
        }
        cluster.addLayers(markers);
        cluster.on("click", function (e) {
            var i = e.layer.incidentIndex;
            if (i === undefined) { return; }
            L.popup({maxWidth: 320}).setLatLng(e.layer.getLatLng()).setContent(D.popup(i))
                .openOn(cluster._map);
        });
        window.incidentLayers = window.incidentLayers || {};
        window.incidentLayers.clusters = cluster;
        window.incidentLayers.data = D;
        return cluster;
    })();
{% endmacro %}
