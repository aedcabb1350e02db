package dev.shadowcopy.service.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import dev.shadowcopy.service.http.HttpException;
import dev.shadowcopy.service.http.HttpRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The API's route table: which handler a request reaches, and what is said when none does. */
class RoutesTest {
    final List<String> ran = new ArrayList<>();
    final Routes routes = new Routes()
            .getOnly("/v1/status", c -> ran.add("status"))
            .post("/v1/shadows/delete", c -> ran.add("delete-selected"))
            .get("/v1/shadows/{id}", c -> ran.add("shadow " + c.param("id")))
            .guardBelow("/v1/sessions/{id}", c -> {
                ran.add("guard " + c.param("id"));
                if (c.param("id").equals("theirs")) {
                    throw new ServiceException(VssError.ACCESS_DENIED, "someone else's session");
                }
            })
            .get("/v1/sessions/{id}", c -> ran.add("session " + c.param("id")))
            .post("/v1/sessions/{id}/keepalive", c -> ran.add("keepalive " + c.param("id")));

    static Call call(String method, String path) {
        List<String> segments = new ArrayList<>();
        for (String s : path.split("/")) {
            if (!s.isEmpty()) {
                segments.add(s);
            }
        }
        return new Call(null, new HttpRequest(method, path, List.copyOf(segments), Map.of(), Map.of(), new byte[0],
                true));
    }

    int status(String method, String path) throws Exception {
        try {
            routes.dispatch(call(method, path));
            return 200;
        } catch (HttpException e) {
            return e.status();
        }
    }

    @Test
    void aParameterSegmentIsHandedToTheHandlerByName() throws Exception {
        routes.dispatch(call("GET", "/v1/shadows/1b4e28ba"));
        assertEquals(List.of("shadow 1b4e28ba"), ran);
    }

    @Test
    void aLiteralRouteWinsOverAParameterRouteOfTheSameShape() throws Exception {
        routes.dispatch(call("POST", "/v1/shadows/delete"));
        assertEquals(List.of("delete-selected"), ran);
    }

    @Test
    void pathsOutsideV1AndUnknownRoutesAreNotFound() throws Exception {
        assertEquals(404, status("GET", "/v2/status"));
        assertEquals(404, status("GET", "/v1/nothing"));
        assertEquals(404, status("PUT", "/v1/shadows/1b4e28ba"));
    }

    @Test
    void anotherMethodOnAGetOnlyResourceIsNotAllowed() throws Exception {
        assertEquals(405, status("POST", "/v1/status"));
        assertEquals(404, status("GET", "/v1/status/more"));
    }

    @Test
    void aGuardRunsBeforeAnyRouteBelowItsObjectEvenAnUnknownOne() throws Exception {
        assertEquals(404, status("PUT", "/v1/sessions/mine/nowhere"));
        assertEquals(List.of("guard mine"), ran);
        ran.clear();
        routes.dispatch(call("POST", "/v1/sessions/mine/keepalive"));
        assertEquals(List.of("guard mine", "keepalive mine"), ran);
    }

    @Test
    void aGuardsRefusalIsTheAnswerWhateverTheRoute() {
        var e = assertThrows(ServiceException.class, () -> routes.dispatch(call("DELETE", "/v1/sessions/theirs")));
        assertEquals(VssError.ACCESS_DENIED, e.error());
    }
}
