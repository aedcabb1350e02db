package dev.shadowcopy.service.api;

import dev.shadowcopy.service.http.HttpException;
import dev.shadowcopy.service.http.HttpRequest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The API's route table: {@code METHOD /v1/...} patterns, where a {@code {name}} segment matches any one segment
 * and is handed to the handler as a parameter. The first route registered for a path and method wins, so literal
 * routes are registered before parameter routes they overlap ({@code POST /v1/shadows/delete} before
 * {@code POST /v1/shadows/{id}/...}).
 *
 * <p>Guards run before a route is chosen, for every method, on every path at or below their pattern: they resolve
 * and authorise the object a path names ({@code /v1/sessions/{id}/...}), so that a caller learns nothing about
 * routes below an object it may not touch. Unknown paths are 404; a path whose routes are all {@code GET} answers
 * other methods with 405 when registered with {@link #getOnly}.
 */
final class Routes {
    /** Handles one matched request. */
    interface Handler {
        void handle(Call call) throws Exception;
    }

    /** Resolves and checks what a path names before any route below it runs; may put values into the call. */
    interface Guard {
        void check(Call call) throws Exception;
    }

    private record Route(String method, List<String> pattern, Handler handler) {}

    private record GuardEntry(String method, List<String> pattern, boolean below, Guard guard) {}

    private final List<Route> routes = new ArrayList<>();
    private final List<GuardEntry> guards = new ArrayList<>();
    private final List<List<String>> getOnly = new ArrayList<>();

    Routes get(String pattern, Handler h) {
        return add("GET", pattern, h);
    }

    Routes post(String pattern, Handler h) {
        return add("POST", pattern, h);
    }

    Routes put(String pattern, Handler h) {
        return add("PUT", pattern, h);
    }

    Routes delete(String pattern, Handler h) {
        return add("DELETE", pattern, h);
    }

    /** A {@code GET}-only resource: other methods on exactly this path are answered 405. */
    Routes getOnly(String pattern, Handler h) {
        getOnly.add(split(pattern));
        return get(pattern, h);
    }

    /** {@code guard} runs for every request on {@code pattern} and the paths below it, any method. */
    Routes guardBelow(String pattern, Guard guard) {
        guards.add(new GuardEntry(null, split(pattern), true, guard));
        return this;
    }

    /** {@code guard} runs for {@code method} requests on exactly {@code pattern}. */
    Routes guard(String method, String pattern, Guard guard) {
        guards.add(new GuardEntry(method, split(pattern), false, guard));
        return this;
    }

    private Routes add(String method, String pattern, Handler h) {
        routes.add(new Route(method, split(pattern), h));
        return this;
    }

    private static List<String> split(String pattern) {
        List<String> out = new ArrayList<>();
        for (String s : pattern.split("/")) {
            if (!s.isEmpty()) {
                out.add(s);
            }
        }
        return List.copyOf(out);
    }

    /** Runs the guards and the route for {@code call}'s path and method. */
    void dispatch(Call call) throws Exception {
        HttpRequest r = call.request();
        List<String> path = r.segments();
        if (path.isEmpty() || !path.getFirst().equals("v1")) {
            throw new HttpException(404, "no such API path " + r.path() + " (the API is under /v1)");
        }
        for (GuardEntry g : guards) {
            boolean length = g.below() ? path.size() >= g.pattern().size() : path.size() == g.pattern().size();
            if (length && (g.method() == null || g.method().equals(r.method()))
                    && match(g.pattern(), path.subList(0, g.pattern().size()), call.params())) {
                g.guard().check(call);
            }
        }
        for (Route route : routes) {
            if (route.method().equals(r.method()) && route.pattern().size() == path.size()) {
                Map<String, String> params = new HashMap<>();
                if (match(route.pattern(), path, params)) {
                    call.params().putAll(params);
                    route.handler().handle(call);
                    return;
                }
            }
        }
        for (List<String> p : getOnly) {
            if (p.size() == path.size() && match(p, path, new HashMap<>())) {
                throw new HttpException(405, r.method() + " is not allowed on " + r.path() + " (expected: GET)");
            }
        }
        throw new HttpException(404, "no API route " + r.method() + " " + r.path());
    }

    private static boolean match(List<String> pattern, List<String> path, Map<String, String> params) {
        for (int i = 0; i < pattern.size(); i++) {
            String p = pattern.get(i);
            if (p.startsWith("{") && p.endsWith("}")) {
                params.put(p.substring(1, p.length() - 1), path.get(i));
            } else if (!p.equals(path.get(i))) {
                return false;
            }
        }
        return true;
    }
}
