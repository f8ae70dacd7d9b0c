{% macro script(this, kwargs) %}
    var {{ this.get_name() }} = (function () {
        var D = {{ this.incidents.get_name() }}, pts = new Array(D.n);
        for (var i = 0; i < D.n; i++) { pts[i] = [D.lat[i], D.lon[i]]; }
        var heat = L.heatLayer(pts, {{ this.options|tojavascript }});
        window.incidentLayers = window.incidentLayers || {};
        window.incidentLayers.heat = heat;
        return heat;
    })();
{% endmacro %}
