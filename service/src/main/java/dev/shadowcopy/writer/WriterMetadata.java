package dev.shadowcopy.writer;

import dev.shadowcopy.service.error.ServiceException;
import dev.shadowcopy.service.error.VssError;
import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;
import org.xml.sax.SAXParseException;

/**
 * A writer metadata document (VSS's WMD): who the writer is, how its data is restored, its components with
 * their files, and exclusions (which override includes). VSS's own schema is private; this one keeps its
 * logical content:
 *
 * <pre>{@code
 * <writer-metadata name="PostgreSQL" usage="user-data" restore-method="restore-if-not-there">
 *   <component name="cluster-15-main" logical-path="postgresql" type="database" selectable="true">
 *     <file path="/var/lib/postgresql/15/main" filespec="*" recursive="true" volume="pgdata"/>
 *   </component>
 *   <exclude path="/var/lib/postgresql/15/main" filespec="postmaster.pid" recursive="false"/>
 * </writer-metadata>
 * }</pre>
 *
 * Parsing refuses DOCTYPEs and external entities (no XXE), documents over 1 MiB, and anything that does not
 * follow the shape above, with {@link VssError#INVALID_XML_DOCUMENT} and the line of the problem.
 */
public record WriterMetadata(String name, String usage, String restoreMethod, List<Component> components,
                             List<FileSpec> excludes) {
    public static final int MAX_BYTES = 1 << 20;
    static final Set<String> USAGES = Set.of("user-data", "bootable-system-state", "system-service", "other");
    static final Set<String> RESTORE_METHODS = Set.of("restore-if-not-there", "restore-if-can-replace",
            "stop-restore-start", "restore-to-alternate-location", "restore-at-reboot", "custom", "restore-stop-start");
    static final Set<String> COMPONENT_TYPES = Set.of("database", "filegroup");

    public WriterMetadata {
        components = List.copyOf(components);
        excludes = List.copyOf(excludes);
    }

    /** A component: a database or a file group, with its files. */
    public record Component(String name, String logicalPath, String type, boolean selectable, List<FileSpec> files) {
        public Component {
            files = List.copyOf(files);
        }
    }

    /**
     * Files under {@code path} matching {@code filespec} (wildcards), optionally in subdirectories;
     * {@code volume} names the managed volume holding them when the writer knows it (null otherwise). A set
     * must contain every volume a taking-part writer's components live on.
     */
    public record FileSpec(String path, String filespec, boolean recursive, String volume) {
        public FileSpec(String path, String filespec, boolean recursive) {
            this(path, filespec, recursive, null);
        }
    }

    /** The metadata of a writer that described nothing: its name, no components. */
    public static WriterMetadata minimal(String name) {
        return new WriterMetadata(name, "other", "custom", List.of(), List.of());
    }

    public static WriterMetadata parse(String xml) throws ServiceException {
        byte[] bytes = xml.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > MAX_BYTES) {
            throw invalid("writer metadata is " + bytes.length + " bytes; at most " + MAX_BYTES + " are accepted");
        }
        Document doc;
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setFeature("http://xml.org/sax/features/external-general-entities", false);
            f.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
            f.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
            f.setXIncludeAware(false);
            f.setExpandEntityReferences(false);
            f.setNamespaceAware(false);
            DocumentBuilder b = f.newDocumentBuilder();
            b.setErrorHandler(null);
            doc = b.parse(new ByteArrayInputStream(bytes));
        } catch (SAXParseException e) {
            throw invalid("writer metadata is not well-formed XML (line " + e.getLineNumber() + "): " + e.getMessage());
        } catch (Exception e) {
            throw invalid("writer metadata could not be parsed: " + e.getMessage());
        }
        Element root = doc.getDocumentElement();
        if (!root.getTagName().equals("writer-metadata")) {
            throw invalid("writer metadata must have <writer-metadata> as its root, not <" + root.getTagName() + ">");
        }
        String name = required(root, "name");
        String usage = optional(root, "usage", "other");
        check(USAGES, usage, "usage");
        String restore = optional(root, "restore-method", "custom");
        check(RESTORE_METHODS, restore, "restore-method");
        List<Component> components = new ArrayList<>();
        List<FileSpec> excludes = new ArrayList<>();
        for (Element e : children(root)) {
            switch (e.getTagName()) {
                case "component" -> {
                    List<FileSpec> files = new ArrayList<>();
                    for (Element fe : children(e)) {
                        if (!fe.getTagName().equals("file")) {
                            throw invalid("<component> may only contain <file>, found <" + fe.getTagName() + ">");
                        }
                        files.add(fileSpec(fe));
                    }
                    String type = optional(e, "type", "filegroup");
                    check(COMPONENT_TYPES, type, "component type");
                    components.add(new Component(required(e, "name"), optional(e, "logical-path", ""), type,
                            bool(e, "selectable", true), files));
                }
                case "exclude" -> excludes.add(fileSpec(e));
                default -> throw invalid("unknown element <" + e.getTagName() + "> in <writer-metadata>");
            }
        }
        return new WriterMetadata(name, usage, restore, components, excludes);
    }

    public String toXml() {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            Document doc = f.newDocumentBuilder().newDocument();
            Element root = doc.createElement("writer-metadata");
            root.setAttribute("name", name);
            root.setAttribute("usage", usage);
            root.setAttribute("restore-method", restoreMethod);
            doc.appendChild(root);
            for (Component c : components) {
                Element ce = doc.createElement("component");
                ce.setAttribute("name", c.name());
                ce.setAttribute("logical-path", c.logicalPath());
                ce.setAttribute("type", c.type());
                ce.setAttribute("selectable", Boolean.toString(c.selectable()));
                for (FileSpec fs : c.files()) {
                    ce.appendChild(fileElement(doc, "file", fs));
                }
                root.appendChild(ce);
            }
            for (FileSpec fs : excludes) {
                root.appendChild(fileElement(doc, "exclude", fs));
            }
            TransformerFactory tf = TransformerFactory.newInstance();
            tf.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
            tf.setAttribute(XMLConstants.ACCESS_EXTERNAL_STYLESHEET, "");
            Transformer t = tf.newTransformer();
            t.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
            t.setOutputProperty(OutputKeys.INDENT, "yes");
            StringWriter w = new StringWriter();
            t.transform(new DOMSource(doc), new StreamResult(w));
            return w.toString().trim();
        } catch (Exception e) {
            throw new IllegalStateException("cannot serialise writer metadata", e);
        }
    }

    private static Element fileElement(Document doc, String tag, FileSpec fs) {
        Element e = doc.createElement(tag);
        e.setAttribute("path", fs.path());
        e.setAttribute("filespec", fs.filespec());
        e.setAttribute("recursive", Boolean.toString(fs.recursive()));
        if (fs.volume() != null) {
            e.setAttribute("volume", fs.volume());
        }
        return e;
    }

    private static FileSpec fileSpec(Element e) throws ServiceException {
        String path = required(e, "path");
        if (!path.startsWith("/")) {
            throw invalid("<" + e.getTagName() + "> path must be absolute, was '" + path + "'");
        }
        String volume = e.hasAttribute("volume") ? e.getAttribute("volume") : null;
        return new FileSpec(path, optional(e, "filespec", "*"), bool(e, "recursive", false),
                volume == null || volume.isEmpty() ? null : volume);
    }

    private static List<Element> children(Element parent) throws ServiceException {
        List<Element> out = new ArrayList<>();
        NodeList nodes = parent.getChildNodes();
        for (int i = 0; i < nodes.getLength(); i++) {
            Node n = nodes.item(i);
            if (n instanceof Element e) {
                out.add(e);
            } else if (n.getNodeType() == Node.TEXT_NODE && !n.getTextContent().isBlank()) {
                throw invalid("unexpected text '" + n.getTextContent().trim() + "' in <" + parent.getTagName() + ">");
            }
        }
        return out;
    }

    private static String required(Element e, String attr) throws ServiceException {
        String v = e.getAttribute(attr);
        if (v.isBlank()) {
            throw invalid("<" + e.getTagName() + "> needs a '" + attr + "' attribute");
        }
        return v;
    }

    private static String optional(Element e, String attr, String dflt) {
        return e.hasAttribute(attr) ? e.getAttribute(attr) : dflt;
    }

    private static boolean bool(Element e, String attr, boolean dflt) throws ServiceException {
        if (!e.hasAttribute(attr)) {
            return dflt;
        }
        String v = e.getAttribute(attr).toLowerCase(Locale.ROOT);
        return switch (v) {
            case "true", "yes", "1" -> true;
            case "false", "no", "0" -> false;
            default -> throw invalid("<" + e.getTagName() + "> " + attr + " must be true or false, was '" + v + "'");
        };
    }

    private static void check(Set<String> allowed, String value, String what) throws ServiceException {
        if (!allowed.contains(value)) {
            throw invalid(what + " '" + value + "' is not one of " + new java.util.TreeSet<>(allowed));
        }
    }

    private static ServiceException invalid(String message) {
        return new ServiceException(VssError.INVALID_XML_DOCUMENT, message);
    }
}
