// The CONTROL channel server and its command parser (see README.md for the protocol).
#include "control.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "quickfix/Session.h"

namespace
{
// How long a command waits for the messages it caused to reach the FIX engine.
const int kDrainTimeoutMs = 5000;

std::vector<std::string> splitWords( const std::string& line )
{
  std::istringstream in( line );
  std::vector<std::string> words;
  std::string word;
  while ( in >> word ) words.push_back( word );
  return words;
}

double parseNumber( const std::string& text, const char* what )
{
  char* end = 0;
  double value = std::strtod( text.c_str(), &end );
  if ( text.empty() || *end != '\0' || !std::isfinite( value ) )
    throw CommandError( std::string( what ) + " is not a number: " + text );
  return value;
}

void expectArgs( const std::vector<std::string>& words, size_t least, size_t most,
                 const char* usage )
{
  if ( words.size() < least + 1 || words.size() > most + 1 )
    throw CommandError( std::string( "usage: " ) + usage );
}

bool sendAll( int fd, const std::string& data )
{
  size_t done = 0;
  while ( done < data.size() )
  {
    ssize_t n = ::send( fd, data.data() + done, data.size() - done, MSG_NOSIGNAL );
    if ( n < 0 && errno == EINTR ) continue;
    if ( n <= 0 ) return false;
    done += static_cast<size_t>( n );
  }
  return true;
}
}  // namespace

ControlServer::ControlServer( int port, Broker& broker, Outbox& outbox, FIX::Acceptor& acceptor,
                              std::atomic<bool>& quitRequested )
  : m_port( port ), m_broker( broker ), m_outbox( outbox ), m_acceptor( acceptor ),
    m_quitRequested( quitRequested ), m_stopping( false )
{
}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start()
{
  m_listenFd = ::socket( AF_INET, SOCK_STREAM, 0 );
  if ( m_listenFd < 0 ) throw std::runtime_error( std::strerror( errno ) );
  int yes = 1;
  ::setsockopt( m_listenFd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof( yes ) );
  sockaddr_in address;
  std::memset( &address, 0, sizeof( address ) );
  address.sin_family = AF_INET;
  address.sin_port = htons( static_cast<uint16_t>( m_port ) );
  address.sin_addr.s_addr = htonl( INADDR_LOOPBACK );
  if ( ::bind( m_listenFd, reinterpret_cast<sockaddr*>( &address ), sizeof( address ) ) != 0 ||
       ::listen( m_listenFd, 16 ) != 0 )
  {
    std::ostringstream why;
    why << "control port " << m_port << ": " << std::strerror( errno );
    ::close( m_listenFd );
    m_listenFd = -1;
    throw std::runtime_error( why.str() );
  }
  m_thread = std::thread( &ControlServer::acceptLoop, this );
}

void ControlServer::stop()
{
  if ( m_stopping.exchange( true ) ) return;
  if ( m_listenFd >= 0 ) ::shutdown( m_listenFd, SHUT_RDWR );
  if ( m_thread.joinable() ) m_thread.join();
  if ( m_listenFd >= 0 ) ::close( m_listenFd );
  m_listenFd = -1;
}

void ControlServer::acceptLoop()
{
  while ( !m_stopping )
  {
    int fd = ::accept( m_listenFd, 0, 0 );
    if ( fd < 0 )
    {
      if ( errno == EINTR ) continue;
      return;
    }
    std::thread( &ControlServer::serve, this, fd ).detach();
  }
}

void ControlServer::serve( int fd )
{
  std::string buffer;
  char chunk[ 4096 ];
  while ( !m_stopping )
  {
    ssize_t n = ::recv( fd, chunk, sizeof( chunk ), 0 );
    if ( n < 0 && errno == EINTR ) continue;
    if ( n <= 0 ) break;
    buffer.append( chunk, static_cast<size_t>( n ) );
    std::string::size_type end;
    bool open = true;
    while ( open && ( end = buffer.find( '\n' ) ) != std::string::npos )
    {
      std::string line = buffer.substr( 0, end );
      buffer.erase( 0, end + 1 );
      if ( !line.empty() && line[ line.size() - 1 ] == '\r' ) line.erase( line.size() - 1 );
      if ( line.find_first_not_of( " \t" ) == std::string::npos ) continue;
      open = sendAll( fd, handle( line ) + "\n" );
    }
    if ( !open ) break;
  }
  ::close( fd );
}

std::string ControlServer::handle( const std::string& line )
{
  std::vector<std::string> w = splitWords( line );
  if ( w.empty() ) return "error empty command";
  const std::string& command = w[ 0 ];
  std::string reply = "ok";
  try
  {
    if ( command == "price" )
    {
      expectArgs( w, 3, 5, "price SYMBOL BID ASK [BIDSIZE ASKSIZE]" );
      if ( w.size() == 5 ) throw CommandError( "give both sizes or neither" );
      double bidSize = w.size() == 6 ? parseNumber( w[ 4 ], "BIDSIZE" ) : 1000000.0;
      double askSize = w.size() == 6 ? parseNumber( w[ 5 ], "ASKSIZE" ) : 1000000.0;
      m_broker.setPrice( w[ 1 ], parseNumber( w[ 2 ], "BID" ), parseNumber( w[ 3 ], "ASK" ),
                         bidSize, askSize );
    }
    else if ( command == "instrument" )
    {
      expectArgs( w, 3, 3, "instrument SYMBOL TICK LOT" );
      m_broker.defineInstrument( w[ 1 ], parseNumber( w[ 2 ], "TICK" ),
                                 parseNumber( w[ 3 ], "LOT" ) );
    }
    else if ( command == "fill" )
    {
      expectArgs( w, 2, 3, "fill CLORDID QTY [PX]" );
      bool pxGiven = w.size() == 4;
      m_broker.fill( w[ 1 ], parseNumber( w[ 2 ], "QTY" ),
                     pxGiven ? parseNumber( w[ 3 ], "PX" ) : 0.0, pxGiven );
    }
    else if ( command == "next" )
    {
      expectArgs( w, 1, 2, "next reject_fatal|silent|duplicate|out_of_order|partial QTY" );
      if ( ( w[ 1 ] == "partial" ) != ( w.size() == 3 ) )
        throw CommandError( "only partial takes a quantity: next partial QTY" );
      m_broker.addNextMode( w[ 1 ], w.size() == 3 ? parseNumber( w[ 2 ], "QTY" ) : 0.0 );
    }
    else if ( command == "count" )
    {
      expectArgs( w, 1, 1, "count CLORDID" );
      std::ostringstream out;
      out << "ok " << m_broker.count( w[ 1 ] );
      reply = out.str();
    }
    else if ( command == "orders" )
    {
      expectArgs( w, 0, 0, "orders" );
      reply = "ok " + m_broker.listOpenOrders();
    }
    else if ( command == "positions" )
    {
      expectArgs( w, 0, 0, "positions" );
      reply = "ok " + m_broker.listPositions();
    }
    else if ( command == "balance" )
    {
      expectArgs( w, 0, 0, "balance" );
      reply = "ok " + m_broker.balance();
    }
    else if ( command == "cash" )
    {
      expectArgs( w, 1, 1, "cash AMOUNT" );
      m_broker.setCash( parseNumber( w[ 1 ], "AMOUNT" ) );
    }
    else if ( command == "reset" )
    {
      expectArgs( w, 0, 0, "reset" );
      m_broker.reset();
    }
    else if ( command == "disconnect" )
    {
      expectArgs( w, 0, 0, "disconnect" );
      reply = disconnectAll();
    }
    else if ( command == "sessions" )
    {
      expectArgs( w, 0, 0, "sessions" );
      reply = listSessions();
    }
    else if ( command == "ping" )
      reply = "ok pong";
    else if ( command == "quit" )
      m_quitRequested = true;
    else
      throw CommandError( "unknown command " + command );
  }
  catch ( const CommandError& e )
  {
    reply = std::string( "error " ) + e.what();
  }
  if ( !m_outbox.waitDrained( kDrainTimeoutMs ) )
    reply = "error outgoing messages still queued after 5 s";
  // strip trailing blanks of "ok " with an empty list
  while ( !reply.empty() && reply[ reply.size() - 1 ] == ' ' ) reply.erase( reply.size() - 1 );
  logEvent( "control: " + line + " -> " + reply );
  return reply;
}

std::string ControlServer::disconnectAll()
{
  const std::set<FIX::SessionID>& ids = m_acceptor.getSessions();
  int dropped = 0;
  for ( std::set<FIX::SessionID>::const_iterator i = ids.begin(); i != ids.end(); ++i )
  {
    FIX::Session* session = FIX::Session::lookupSession( *i );
    if ( !session ) continue;
    if ( session->receivedLogon() ) ++dropped;  // set before the Logon answer goes out
    session->disconnect();
  }
  std::ostringstream out;
  out << "ok " << dropped;
  return out.str();
}

std::string ControlServer::listSessions()
{
  const std::set<FIX::SessionID>& ids = m_acceptor.getSessions();
  std::string out = "ok ";
  for ( std::set<FIX::SessionID>::const_iterator i = ids.begin(); i != ids.end(); ++i )
  {
    FIX::Session* session = FIX::Session::lookupSession( *i );
    if ( out.size() > 3 ) out += ",";
    out += i->getTargetCompID().getValue() + ":" +
           ( session && session->receivedLogon() ? "on" : "off" );
  }
  return out;
}
