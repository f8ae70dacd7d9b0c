{% macro script(this, kwargs) %}
    (function (layer) {
        var fit = function () {
            if (!layer._map || window.patrolFittedTo === {{ this.key|tojson }}) { return; }
            window.patrolFittedTo = {{ this.key|tojson }};
            layer._map.fitBounds({{ this.bounds|tojson }});
        };
        if (layer._map) { fit(); } else { layer.once("add", fit); }
    })({{ this._parent.get_name() }});
{% endmacro %}
